"""The README runs as written: its ```python and ```bash blocks run here, and its printed outputs are real.

The blocks of the sections "Use" and "Command line" run in order in one temporary folder, so `siglip2-min demo
--save shapes` writes the drawings that the later examples read. A ```python block followed directly by a ```text
block must print exactly that text. A command whose line says "(not run in the tests: REASON)" is skipped, and the
README shows the reason to its reader. The install commands of "Quick start" are not run here: CI runs them on a
fresh clone (.ci/run). `siglip2-min` runs as `python -m siglip2_min` so that this checkout's code is the one tested.
"""

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCK = re.compile(r"^```(?P<lang>\w*)[ \t]*\n(?P<code>.*?)^```[ \t]*$", re.M | re.S)
NOT_RUN = re.compile(r"\(not run in the tests: (?P<reason>[^)]+)\)")
RUN_SECTIONS = ("Use", "Command line")


def section(text, title):
    """The body of the `## title` section."""
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert m, f"README has no section '## {title}'"
    return m[1]


def examples(text):
    """[(lang, code, expected output or None)] of the runnable blocks, in README order."""
    out = []
    for title in RUN_SECTIONS:
        body = section(text, title)
        blocks = list(BLOCK.finditer(body))
        for i, m in enumerate(blocks):
            if m["lang"] not in ("python", "bash"):
                continue
            nxt = blocks[i + 1] if i + 1 < len(blocks) else None
            expected = None
            if m["lang"] == "python" and nxt and nxt["lang"] == "text" and not body[m.end():nxt.start()].strip():
                expected = nxt["code"]
            out.append((m["lang"], m["code"], expected))
    return out


def runnable(bash):
    """The bash block without its lines marked as not run."""
    return "".join(line for line in bash.splitlines(keepends=True) if not NOT_RUN.search(line))


def test_example_finder_pairs_code_with_its_output_and_drops_marked_lines():
    text = ("## Use\n```python\nprint(1)\n```\n\n```text\n1\n```\n```bash\nls\nrm -r / # (not run in the tests: no)\n"
            "```\n## Command line\n```python\nx = 1\n```\nprose\n```text\nnot an output\n```\n## Layout\n```bash\nno\n```\n")
    found = examples(text)
    assert found == [("python", "print(1)\n", "1\n"), ("bash", "ls\nrm -r / # (not run in the tests: no)\n", None),
                     ("python", "x = 1\n", None)]
    assert runnable(found[1][1]) == "ls\n"


def test_every_skipped_readme_command_says_why():
    marked = [line for lang, code, _ in examples(README) for line in code.splitlines() if "not run" in line]
    assert marked, "expected the commands that need published weights to be marked"
    for line in marked:
        m = NOT_RUN.search(line)
        assert m and m["reason"].strip(), f"a README line is skipped without a reason: {line}"


def test_readme_examples_run_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    prelude = f'set -euo pipefail\nsiglip2-min() {{ "{sys.executable}" -m siglip2_min "$@"; }}\n' \
              f'python() {{ "{sys.executable}" "$@"; }}\n'
    blocks = examples(README)
    assert [lang for lang, _, _ in blocks].count("python") >= 1 and any(e for _, _, e in blocks), \
        "the README should hold a Python example with its printed output"
    for lang, code, expected in blocks:
        if lang == "bash":
            proc = subprocess.run(["bash", "-c", prelude + runnable(code)], env=env, capture_output=True, text=True,
                                  timeout=300)
            assert proc.returncode == 0, f"README command failed:\n{code}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            continue
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
        if expected is not None:
            assert printed.getvalue() == expected, (
                f"the README shows an output its code does not print:\n--- README\n{expected}--- printed\n"
                f"{printed.getvalue()}")
