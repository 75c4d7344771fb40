"""Picks the implementation the exercise checks test: yours, or the project's own code (the reference solution).

By default each check loads your function from `student/<exercise>.py` beside this folder (in a checkout:
`docs/exercises/student/`). `SIGLIP2_EXERCISE_STUDENT_DIR` points the checks at another folder of student
modules (`python -m siglip2_min.exercises check --dir` sets it; the project's suite uses it to run the checks
against deliberately wrong solutions, so that no check can pass vacuously). With `SIGLIP2_EXERCISE_SOLUTIONS=1`
a check tests the project's function instead (`_solutions.py`, which is not part of a student handout).
"""

import importlib
import importlib.util
import os
from pathlib import Path

SOLUTIONS = os.environ.get("SIGLIP2_EXERCISE_SOLUTIONS") == "1"
STUDENT_DIR = Path(os.environ.get("SIGLIP2_EXERCISE_STUDENT_DIR") or Path(__file__).resolve().parents[1] / "student")


def implementation(exercise, name):
    """The function `name` of the student's module `exercise`, or the reference solution in solution mode."""
    if SOLUTIONS:
        try:
            solutions = importlib.import_module("_solutions")
        except ModuleNotFoundError:
            raise RuntimeError("the reference solutions are not part of this folder (a student handout)") from None
        reference = getattr(solutions, exercise)()
        return reference[name] if isinstance(reference, dict) else reference  # dict: an exercise of several functions
    path = STUDENT_DIR / f"{exercise}.py"
    if not path.is_file():
        raise FileNotFoundError(f"no student module {path}: copy the stub {exercise}.py into {STUDENT_DIR}")
    spec = importlib.util.spec_from_file_location(f"student_{exercise}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)
