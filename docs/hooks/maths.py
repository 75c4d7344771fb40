"""Render the pages' TeX to MathML when the site is built, so formulas need no script, font or network.

pymdownx.arithmatex (generic mode) leaves each formula as `<span class="arithmatex">\\(...\\)</span>` or
`<div class="arithmatex">\\[...\\]</div>`; this mkdocs hook replaces it with the MathML that latex2mathml writes,
which browsers draw natively (Chromium >= 109, Firefox, Safari). latex2mathml has no `aligned` environment, so it
is read as `align*` (same columns); `\\_` inside `\\texttt` would otherwise keep its backslash.
"""

import html
import re

from latex2mathml.converter import convert

MATH = re.compile(r'<(?P<tag>span|div) class="arithmatex">\s*(?:\\\((?P<inline>.*?)\\\)|\\\[(?P<display>.*?)\\\])\s*</(?P=tag)>',
                  re.S)


def to_mathml(tex, display):
    tex = tex.replace(r"\begin{aligned}", r"\begin{align*}").replace(r"\end{aligned}", r"\end{align*}")
    tex = re.sub(r"\\texttt\{([^}]*)\}", lambda m: r"\texttt{" + m[1].replace(r"\_", "_") + "}", tex)
    mathml = convert(tex, display="block" if display else "inline")
    if "<merror" in mathml:
        raise ValueError(f"latex2mathml could not read the formula {tex!r}")
    return mathml


def render(page_html):
    def replace(m):
        display = m["display"] is not None
        tex = html.unescape(m["display"] if display else m["inline"])
        mathml = to_mathml(tex, display)
        return f'<div class="arithmatex">{mathml}</div>' if display else f'<span class="arithmatex">{mathml}</span>'

    return MATH.sub(replace, page_html)


def on_page_content(page_html, page, config, files):
    return render(page_html)
