"""Picks the implementation the exercise checks test: yours, or the project's own code (the reference solution).

By default each check loads your function from `docs/exercises/student/<exercise>.py`. With
`SIGLIP2_EXERCISE_SOLUTIONS=1` it tests the project's function instead, which is how the project's own test suite
proves that every check passes on the reference solution. `SIGLIP2_EXERCISE_STUDENT_DIR` points the checks at
another folder of student modules (the suite uses it to run the checks against deliberately wrong solutions, so
that no check can pass vacuously).
"""

import importlib.util
import os
from pathlib import Path

SOLUTIONS = os.environ.get("SIGLIP2_EXERCISE_SOLUTIONS") == "1"
STUDENT_DIR = Path(os.environ.get("SIGLIP2_EXERCISE_STUDENT_DIR") or Path(__file__).resolve().parents[1] / "student")


def implementation(exercise, name, reference):
    """The function `name` of the student's module `exercise`, or `reference()` in solution mode."""
    if SOLUTIONS:
        return reference()
    path = STUDENT_DIR / f"{exercise}.py"
    if not path.is_file():
        raise FileNotFoundError(f"no student module {path}: copy the stub from docs/exercises/student/")
    spec = importlib.util.spec_from_file_location(f"student_{exercise}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)
