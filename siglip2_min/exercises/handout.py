"""Write a student handout: the exercise pages, the stubs and the checks, without the reference solutions.

The pages are rewritten for the folder they land in: paths `docs/exercises/student/` and `docs/exercises/checks/`
become `student/` and `checks/`, the "Reference solution" lines go, and links to pages outside the handout (the
site's model pages and API reference, which show the project's source) keep only their text.
"""

import re

from .. import fileio
from . import EXERCISES, SOLUTIONS_FILE, exercise_names

REFERENCE_LINE = re.compile(r"^\*\*Reference solution:\*\*.*?(?=^\*\*|^\s*$)", re.M | re.S)
LINK = re.compile(r"\[(?P<text>[^\]]+)\]\((?P<target>[^)]+)\)")
SITE_ONLY = re.compile(r"^<!-- site only -->\n.*?^<!-- /site only -->\n", re.M | re.S)  # e.g. how to make a handout


def local_paths(text):
    """Paths as seen from the handout folder (`docs/exercises/checks/x.py` -> `checks/x.py`)."""
    return text.replace("docs/exercises/", "")


def student_page(text, pages):
    """A docs page as the handout shows it: local paths, no reference solution, links only between its pages."""
    text = local_paths(SITE_ONLY.sub("", REFERENCE_LINE.sub("", text))).replace("](index.md", "](README.md")

    def link(m):
        return m[0] if m["target"].split("#")[0] in pages else m["text"]

    text = LINK.sub(link, text)
    return text.replace("**Read first:**", "**Read first** (pages of the siglip2-min documentation):")


def write_handout(out, overwrite=False):
    """Fill the folder `out` with README.md, exN_*.md, student/exN_*.py and checks/ (no _solutions.py)."""
    if not (EXERCISES / "checks").is_dir():
        raise FileNotFoundError(f"the exercises are not here ({EXERCISES}): the course kit needs a checkout of "
                                "the siglip2-min repository (git clone, then pip install -e .)")
    out = fileio.check_output(out, overwrite=overwrite, folder=True)
    names = exercise_names(EXERCISES / "checks")
    pages = {f"{name}.md" for name in names} | {"README.md"}
    with fileio.output_folder(out, overwrite=overwrite) as tmp:
        (tmp / "student").mkdir()
        (tmp / "checks").mkdir()
        (tmp / "README.md").write_text(student_page((EXERCISES / "index.md").read_text(), pages))
        for name in names:
            (tmp / f"{name}.md").write_text(student_page((EXERCISES / f"{name}.md").read_text(), pages))
            for source, target in [(EXERCISES / "student" / f"{name}.py", tmp / "student" / f"{name}.py"),
                                   (EXERCISES / "checks" / f"test_{name}.py", tmp / "checks" / f"test_{name}.py")]:
                target.write_text(local_paths(source.read_text()))
        for helper in (EXERCISES / "checks").glob("_*.py"):
            if helper.name != SOLUTIONS_FILE:
                (tmp / "checks" / helper.name).write_text(local_paths(helper.read_text()))
    return out, names
