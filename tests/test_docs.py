"""The documentation cannot drift from the code: every ```python block on every page runs, and the site builds.

Blocks run page by page in a fresh namespace each, in page order, from the repository root, so a page reads like a
session a reader could type. Blocks that must not run use another fence (```text, ```bash). The site is built with
`mkdocs build --strict`, where any warning (a broken link, a missing page, an API reference to a module that does
not exist) fails the build.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
FENCE = re.compile(r"^(?P<indent>[ \t]*)```python[ \t]*\n(?P<code>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)


def python_blocks(text):
    """The ```python blocks of a page, dedented, each with the page line its code starts on."""
    blocks = []
    for m in FENCE.finditer(text):
        indent = len(m["indent"])
        code = "".join(line[indent:] for line in m["code"].splitlines(keepends=True))
        blocks.append((text.count("\n", 0, m.start()) + 2, code))
    return blocks


def test_the_block_finder_finds_blocks_and_skips_other_fences():
    page = "x\n```python\na = 1\n```\n```text\nnot code\n```\n    ```python\n    b = 2\n    ```\n"
    assert python_blocks(page) == [(3, "a = 1\n"), (9, "b = 2\n")]


PAGES_WITH_CODE = [p for p in PAGES if python_blocks(p.read_text())]


def test_some_pages_have_code():
    # guards the parametrisation below against a fence regex that silently matches nothing
    assert len(PAGES_WITH_CODE) >= 5, [str(p) for p in PAGES_WITH_CODE]


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda p: str(p.relative_to(DOCS)))
def test_python_blocks_run(page, monkeypatch):
    monkeypatch.chdir(ROOT)
    namespace = {"__name__": f"docs_{page.stem}"}
    for line, code in python_blocks(page.read_text()):
        # padded with blank lines so that a traceback names the line of the page
        exec(compile("\n" * (line - 1) + code, str(page.relative_to(ROOT)), "exec"), namespace)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site as `mkdocs build --strict` writes it (built once for the tests that read it)."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-f", str(ROOT / "mkdocs.yml"), "-d", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout[-5000:]}\n{proc.stderr[-5000:]}"
    return out


def test_site_builds_strict(site):
    assert (site / "index.html").is_file()


# A resource the browser would fetch from elsewhere: a script, stylesheet, font, image or preconnect by URL, or a
# CSS import/url() of one. Plain links (<a href="https://...">) are not fetched and are allowed.
REMOTE_IN_HTML = re.compile(r"<(?:script|link|img|iframe|source)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.I)
REMOTE_IN_CSS = re.compile(r"(?:@import\s+(?:url\()?|url\()\s*[\"']?(?:https?:)?//", re.I)


def test_remote_finders_find_remote_resources_and_pass_plain_links():
    assert REMOTE_IN_HTML.search('<script src="https://cdn.example/mathjax.js"></script>')
    assert REMOTE_IN_HTML.search("<link rel=stylesheet href='//fonts.example/css?family=Roboto'>")
    assert REMOTE_IN_CSS.search("@font-face{src:url(https://fonts.example/r.woff2)}")
    assert REMOTE_IN_CSS.search('@import "https://fonts.example/css";')
    assert not REMOTE_IN_HTML.search('<a href="https://example.org/">a link</a><script src="assets/x.js"></script>')


def test_site_loads_nothing_remote(site):
    """Offline (a classroom, a lab machine) every page must render: no CDN script, no remote stylesheet or font."""
    remote = []
    for path in site.rglob("*"):
        if path.suffix == ".html":
            remote += [f"{path.relative_to(site)}: {m[0]}" for m in REMOTE_IN_HTML.finditer(path.read_text())]
        elif path.suffix == ".css":
            remote += [f"{path.relative_to(site)}: {m[0]}" for m in REMOTE_IN_CSS.finditer(path.read_text())]
    assert not remote, "resources fetched from the network:\n" + "\n".join(remote[:20])


def prose(page_html):
    """A page's HTML without its code (where `\\(` may stand for itself)."""
    return re.sub(r"<(pre|code)\b.*?</\1>", "", page_html, flags=re.S)


def test_formulas_are_rendered_at_build_time(site):
    """Every formula is MathML in the HTML: none is left as TeX for a script to typeset."""
    for page in ["model/index.html", "model/sigmoid-loss/index.html", "exercises/ex7_sigmoid_loss/index.html"]:
        assert prose((site / page).read_text()).count("<math") >= 2, f"{page}: no rendered formula found"
    raw = []
    for path in site.rglob("*.html"):
        text = prose(path.read_text())
        raw += [f"{path.relative_to(site)}: {m[0]!r}" for m in re.finditer(r"\\[(\[]|\$\$", text)]
    assert not raw, "TeX left unrendered:\n" + "\n".join(raw[:20])


def test_figure_script_draws_every_committed_figure(tmp_path):
    """The figures are drawn from the code: the script runs, and draws exactly the PNGs that are committed.

    It does not compare pixels (fonts and matplotlib versions move them); re-run
    `python docs/scripts/make_figures.py` after changing the functions it draws.
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, str(DOCS / "scripts" / "make_figures.py"), "--out", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-5000:]
    drawn = sorted(p.name for p in tmp_path.glob("*.png"))
    committed = sorted(p.name for p in (DOCS / "figures").glob("*.png") if p.name != "ring_exchange.png")
    assert drawn == committed, f"the script draws {drawn}, docs/figures holds {committed}"
    pages = "".join(p.read_text() for p in PAGES)
    unused = [name for name in committed if f"figures/{name}" not in pages]
    assert not unused, f"figures no page shows: {unused}"


def test_performance_page_repeats_the_loss_memory_figures_exactly():
    """The loss-memory table of the performance page is copied from the distributed-loss page: keep them equal."""
    def rows(page):
        lines = (DOCS / page).read_text().splitlines()
        return [line.split("|")[1:3] for line in lines if line.startswith("| `") and "sigmoid_loss" in line
                and line.split("|")[2].strip().isdigit()]

    source, copy = rows("distributed-loss.md"), rows("performance.md")
    assert len(source) >= 2, "no memory table found on distributed-loss.md"
    assert [[c.strip() for c in r] for r in copy] == [[c.strip() for c in r] for r in source], (
        "docs/performance.md and docs/distributed-loss.md give different loss-memory figures")


def test_finetune_page_states_the_defaults_of_the_code():
    """The defaults quoted on the evaluate-and-fine-tune page are finetune.py's and course.py's: they drifted once."""
    from siglip2_min import course, finetune

    page = (DOCS / "evaluate-finetune.md").read_text().replace("\n", " ")
    quoted = dict(re.findall(r"`--([a-z-]+)`(?: pairs| steps)? \(default ([0-9.e-]+)\)", page))
    code = {"batch-size": finetune.BATCH_SIZE, "warmup": finetune.WARMUP, "lr": finetune.LR, "epochs": finetune.EPOCHS}
    assert set(quoted) == set(code), f"the page quotes defaults for {sorted(quoted)}, expected {sorted(code)}"
    for flag, value in code.items():
        assert float(quoted[flag]) == value, f"--{flag}: the page says {quoted[flag]}, finetune.py has {value}"
    pairs = course.TRAIN_PER_SHAPE + course.REPLAY
    steps = round(finetune.EPOCHS * (pairs // finetune.BATCH_SIZE))
    course_text = (f"{pairs:,} image-caption pairs: {course.TRAIN_PER_SHAPE:,} of the new shape",
                   f"{course.REPLAY:,} of the five old shapes",
                   f"{finetune.EPOCHS:g} epochs of batches of {finetune.BATCH_SIZE}, i.e. {steps} steps")
    missing = [text for text in course_text if text not in page]
    assert not missing, f"the course section does not say {missing} (course.py / finetune.py defaults)"


def test_pages_keep_the_notation(site):
    """Pages and docstrings render as written: `p*p*3` is not turned into emphasis, and a list stays a list."""
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 30
    emphasis, collapsed = [], []
    for path in pages:
        text = prose(path.read_text())
        # p*p*3 read as Markdown becomes p<em>p</em>3: emphasis glued to letters on both sides
        emphasis += [f"{path.relative_to(site)}: {m[0]}" for m in re.finditer(r"\w<em>[^<]{1,20}</em>\w", text)]
        # a list that Markdown merged into the paragraph above it keeps its "- " at a line start inside the <p>
        collapsed += [f"{path.relative_to(site)}: {m[0][-60:]!r}"
                      for m in re.finditer(r"<p>(?:(?!</p>).)*?\n\s*- ", text, re.S)]
    assert not emphasis, "formulas rendered as emphasis:\n" + "\n".join(emphasis[:10])
    assert not collapsed, "lists merged into paragraphs:\n" + "\n".join(collapsed[:10])
    vision = (site / "reference" / "vision" / "index.html").read_text()
    assert "p*p*3" in vision and "<li>" in vision


def test_the_notation_extension_escapes_formulas_and_separates_lists():
    sys.path.insert(0, str(DOCS / "hooks"))
    try:
        from griffe_notation import markdown_safe
    finally:
        sys.path.pop(0)
    text = "Shapes: P = p*p*3, `x*y` stays.\nWhere they bite:\n- one\n  more\n- two\n\n**bold** and *args"
    assert markdown_safe(text) == ("Shapes: P = p\\*p\\*3, `x*y` stays.\nWhere they bite:\n\n- one\n  more\n- two\n\n"
                                   "**bold** and *args")


def test_code_wraps_instead_of_being_cut(site):
    """At 1280 px the text column holds ~100 code characters; longer lines (source listings, signatures) must
    wrap rather than hide behind a scrollbar: every page loads the stylesheet that says so."""
    css = (site / "stylesheets" / "extra.css").read_text()
    assert re.search(r"pre > code\s*\{[^}]*white-space:\s*pre-wrap", css), "extra.css no longer wraps code"
    pages = list(site.rglob("*.html"))
    missing = [str(p.relative_to(site)) for p in pages if "stylesheets/extra.css" not in p.read_text()]
    assert not missing, f"pages without the wrapping stylesheet: {missing[:5]}"
