"""Keep the docstrings' notation when mkdocstrings renders them as Markdown (a griffe extension).

The source's docstrings are written to be read as plain text, where two habits break in Markdown:
- shape formulas such as p*p*3 outside backticks: `*` between letters opens emphasis ("pp3" with an italic p);
  here such a `*` is escaped, outside code spans and code blocks;
- a list right after a line of text ("...where they bite:" then "- Input is ..."): Markdown reads it as the same
  paragraph; here a blank line is put before such a list.
The source files are not changed.
"""

import re

from griffe import Extension

STAR_BETWEEN = re.compile(r"(?<=[\w)\]])\*(?=[\w(\[])")
CODE_SPAN = re.compile(r"(`+)(?:.+?)\1")
ITEM = re.compile(r"^(?P<indent>\s*)[-*] \S")


def escape_stars(line):
    """`p*p*3` -> `p\\*p\\*3`, except inside code spans."""
    out, end = [], 0
    for m in CODE_SPAN.finditer(line):
        out += [STAR_BETWEEN.sub(r"\\*", line[end:m.start()]), m[0]]
        end = m.end()
    return "".join(out + [STAR_BETWEEN.sub(r"\\*", line[end:])])


def indent(line):
    return len(line) - len(line.lstrip())


def markdown_safe(text):
    """The docstring with formula stars escaped and a blank line before each list that follows text."""
    lines, out, fenced = text.splitlines(), [], False
    for i, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if fenced or line.lstrip().startswith("```"):
            out.append(line)
            continue
        item = ITEM.match(line)
        if item and out and out[-1].strip():
            prev = out[-1]
            in_list = ITEM.match(prev) or indent(prev) > len(item["indent"])
            if not in_list:
                out.append("")
        out.append(escape_stars(line))
    return "\n".join(out)


class Notation(Extension):
    def on_instance(self, *, obj, **kwargs):
        if obj.docstring is not None:
            obj.docstring.value = markdown_safe(obj.docstring.value)
