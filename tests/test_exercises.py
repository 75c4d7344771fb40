"""The course exercises' checks (docs/exercises/checks) must pass on the reference solution and fail otherwise.

Each check file tests one function, loaded from the student's module or, with SIGLIP2_EXERCISE_SOLUTIONS=1, taken
from the project itself (the reference solution). Three ways a check could be useless are ruled out here:
- it fails on the reference solution (a wrong check): run in solution mode, every test must pass, none skip;
- it passes on the unfinished stubs students start from: every test must fail on them;
- it passes on a plausible wrong solution: `tests/exercise_mistakes/{a,b}/` hold two sets of typical mistakes
  (one wrong module per exercise in each set), and every check file must catch each of them with at least one test.
The checks run in subprocesses because each check file picks its implementation when it is imported.
"""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKS = ROOT / "docs" / "exercises" / "checks"
MISTAKES = Path(__file__).resolve().parent / "exercise_mistakes"
CHECK_FILES = sorted(p.name for p in CHECKS.glob("test_ex*.py"))


def _run_checks(tmp_path, **env):
    """Run every check file in a subprocess; return {file: {test: outcome}} with outcome passed/failed/skipped."""
    report = tmp_path / "report.xml"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SIGLIP2_EXERCISE")}
    environ.update(env)
    environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), environ.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", str(CHECKS)]
    proc = subprocess.run(cmd, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300)
    assert report.exists(), f"pytest wrote no report:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    outcomes = defaultdict(dict)
    for case in ET.parse(report).iter("testcase"):
        file = case.get("classname").split(".")[-1] + ".py"
        if case.find("skipped") is not None:
            outcome = "skipped"
        elif case.find("failure") is not None or case.find("error") is not None:
            outcome = "failed"
        else:
            outcome = "passed"
        outcomes[file][case.get("name")] = outcome
    return outcomes, proc


def test_there_are_at_least_six_exercises():
    assert len(CHECK_FILES) >= 6, CHECK_FILES
    for name in CHECK_FILES:
        stub = ROOT / "docs" / "exercises" / "student" / name.removeprefix("test_")
        page = ROOT / "docs" / "exercises" / name.removeprefix("test_").replace(".py", ".md")
        assert stub.is_file(), f"{name} has no student stub {stub}"
        assert page.is_file(), f"{name} has no exercise page {page}"
        assert f"pytest docs/exercises/checks/{name}" in page.read_text(), f"{page} does not give the command"


def test_every_check_passes_on_the_reference_solution(tmp_path):
    outcomes, proc = _run_checks(tmp_path, SIGLIP2_EXERCISE_SOLUTIONS="1")
    assert sorted(outcomes) == CHECK_FILES, f"some check files were not collected:\n{proc.stdout[-3000:]}"
    bad = {f"{f}::{t}": o for f, tests in outcomes.items() for t, o in tests.items() if o != "passed"}
    assert not bad, f"checks not passing on the reference solution: {bad}\n{proc.stdout[-3000:]}"
    assert proc.returncode == 0


def test_every_check_fails_on_the_stubs(tmp_path):
    outcomes, proc = _run_checks(tmp_path)
    assert sorted(outcomes) == CHECK_FILES, f"some check files were not collected:\n{proc.stdout[-3000:]}"
    vacuous = [f"{f}::{t}" for f, tests in outcomes.items() for t, o in tests.items() if o != "failed"]
    assert not vacuous, f"checks that do not fail on the unfinished stubs: {vacuous}"


@pytest.mark.parametrize("mistakes", ["a", "b"])
def test_every_check_file_catches_typical_mistakes(tmp_path, mistakes):
    folder = MISTAKES / mistakes
    assert sorted("test_" + p.name for p in folder.glob("ex*.py")) == CHECK_FILES, "one wrong module per exercise"
    outcomes, proc = _run_checks(tmp_path, SIGLIP2_EXERCISE_STUDENT_DIR=str(folder))
    assert sorted(outcomes) == CHECK_FILES, f"some check files were not collected:\n{proc.stdout[-3000:]}"
    missed = [f for f, tests in outcomes.items() if "failed" not in tests.values()]
    assert not missed, f"check files that accept the wrong solutions in {folder}: {missed}"
