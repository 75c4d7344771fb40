"""The course kit: hand the exercises out to students without their solutions, and run the checks with a short report.

    python -m siglip2_min.exercises handout OUT          # OUT/: pages, student/ stubs, checks/; no solutions
    python -m siglip2_min.exercises check [N ...] [--dir OUT] [--json]

The exercises live in a checkout of the repository, `docs/exercises/` (pages `exN_*.md`, stubs `student/`,
checks `checks/`); the reference solutions are the project's own functions, picked in `checks/_solutions.py`,
which a handout leaves out. See docs/exercises/teacher.md.
"""

import re
from pathlib import Path

EXERCISES = Path(__file__).resolve().parents[2] / "docs" / "exercises"  # in a checkout of the repository
SOLUTIONS_FILE = "_solutions.py"


def exercise_names(checks_dir):
    """The exercises of a checks folder, 'ex1_target_size', ..., in their number's order."""
    names = [p.stem.removeprefix("test_") for p in Path(checks_dir).glob("test_ex*.py")]
    return sorted(names, key=lambda name: int(re.match(r"ex(\d+)_", name)[1]))
