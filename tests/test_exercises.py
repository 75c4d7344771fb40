"""The course exercises' checks (docs/exercises/checks) must pass on the reference solution and fail otherwise.

Each check file tests one function, loaded from the student's module or, with SIGLIP2_EXERCISE_SOLUTIONS=1, taken
from the project itself (the reference solution). Three ways a check could be useless are ruled out here:
- it fails on the reference solution (a wrong check): run in solution mode, every test must pass, none skip;
- it passes on the unfinished stubs students start from: every test must fail on them;
- it passes on a plausible wrong solution: `tests/exercise_mistakes/{a,b}/` hold two sets of typical mistakes
  (one wrong module per exercise in each set), and every check file must catch each of them with at least one test.
The checks run in subprocesses because each check file picks its implementation when it is imported.
"""

import json
import os
import shutil
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


def test_there_are_at_least_ten_exercises():
    assert len(CHECK_FILES) >= 10, CHECK_FILES
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


# The course kit: `python -m siglip2_min.exercises handout` and `check`.

def _solution_sources():
    """The source of every project object the reference solutions use (`from siglip2_min.x import y` in
    _solutions.py), and _solutions.py itself."""
    import importlib
    import inspect
    import re

    text = (CHECKS / "_solutions.py").read_text()
    sources = {"_solutions.py": text}
    for module, names in re.findall(r"from (siglip2_min[\w.]*) import ([\w, ]+)", text):
        for name in names.split(","):
            obj = getattr(importlib.import_module(module), name.strip())
            sources[f"{module}.{name.strip()}"] = inspect.getsource(obj)
    return sources


def _code_lines(source):
    """The distinctive lines of a body: long enough to be code of its own; not a comment, quote, import or signature
    (the stubs share the signatures on purpose)."""
    lines = {line.strip() for line in source.splitlines()}
    return {line for line in lines
            if len(line) >= 30 and not line.startswith(("#", '"', "'", "def ", "class ")) and "import" not in line}


@pytest.fixture(scope="module")
def handout(tmp_path_factory):
    from siglip2_min.exercises.__main__ import main

    out = tmp_path_factory.mktemp("kit") / "handout"
    assert main(["handout", str(out)]) == 0
    return out


def test_the_handout_holds_every_exercise_and_no_solution(handout):
    names = [name.removeprefix("test_").removesuffix(".py") for name in CHECK_FILES]
    for name in names:
        for path in (handout / f"{name}.md", handout / "student" / f"{name}.py", handout / "checks" / f"test_{name}.py"):
            assert path.is_file(), f"the handout lacks {path.relative_to(handout)}"
    assert not (handout / "checks" / "_solutions.py").exists()
    texts = {p.relative_to(handout): p.read_text() for p in handout.rglob("*") if p.is_file()}
    sources = _solution_sources()
    assert len(sources) >= 10, sorted(sources)  # guards against a regex that finds no reference
    checks = "".join(p.read_text() for p in CHECKS.glob("test_ex*.py"))
    for origin, source in sources.items():
        lines = _code_lines(source)
        assert lines, f"no distinctive line found in {origin}"
        # a line the checks share on purpose (an oracle such as autograd through the dense loss) is no leak
        lines = {line for line in lines if line not in checks} if origin == "_solutions.py" else lines
        for path, text in texts.items():
            leaked = [line for line in lines if line in text]
            assert not leaked, f"{path} holds code of the reference solution {origin}: {leaked[:3]}"
    for path, text in texts.items():
        assert "Reference solution" not in text and "SIGLIP2_EXERCISE_SOLUTIONS=1 pytest" not in text, path
        assert "../reference/" not in text and "../model/" not in text, f"{path} links to the site's pages"
        assert "docs/exercises/" not in text, f"{path} names a path of the repository"


def test_the_code_line_finder_finds_code_and_skips_prose():
    src = 'def f(x):\n    """A docstring line that is long enough."""\n    # a comment that is long enough to count\n' \
          "    return torch.cat([x, x], dim=-1) * scale + bias\n"
    assert _code_lines(src) == {"return torch.cat([x, x], dim=-1) * scale + bias"}


def test_the_check_command_reports_short(handout, capsys):
    from siglip2_min.exercises.__main__ import main

    assert main(["check", "3", "7", "--dir", str(handout)]) == 1  # the untouched stubs fail
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) <= 10, "\n".join(lines)  # 2 failure lines, a blank, a header, 2 rows, the total
    assert sum("NotImplementedError" in line for line in lines) == 2
    assert lines[-1].split()[:2] == ["total", "0.00"]
    assert main(["check", "3", "--dir", str(handout), "--json"]) == 1
    score = json.loads(capsys.readouterr().out)
    assert score["max_score"] == 1 and score["score"] == 0 and score["exercises"][0]["total"] >= 20


def test_the_check_command_scores_partial_and_full_work(handout, tmp_path, capsys, monkeypatch):
    from siglip2_min.exercises.__main__ import main

    student = tmp_path / "work"
    shutil.copytree(handout, student)
    shutil.copy(MISTAKES / "a" / "ex7_sigmoid_loss.py", student / "student")  # a typical mistake: some checks fail
    (student / "student" / "ex3_pad_tokens.py").write_text("def pad_ids(:\n")  # does not even import
    assert main(["check", "3", "7", "--dir", str(student), "--json"]) == 1
    broken, partial = json.loads(capsys.readouterr().out)["exercises"]
    assert broken["passed"] == 0 and "SyntaxError" in broken["first_failure"], broken
    assert 0 < partial["passed"] < partial["total"] and partial["first_failure"], partial  # still checked
    monkeypatch.setenv("SIGLIP2_EXERCISE_SOLUTIONS", "1")  # the checkout's reference solutions: a full score
    assert main(["check", "3", "7", "--dir", str(ROOT), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["score"] == 2


def test_kit_usage_errors_exit_2(handout, tmp_path, capsys):
    from siglip2_min.exercises.__main__ import main

    assert main(["check", "99", "--dir", str(handout)]) == 2
    assert main(["check", "--dir", str(tmp_path)]) == 2
    assert main(["handout", str(handout)]) == 2  # exists: not overwritten
    assert "no exercise 99" in capsys.readouterr().err


def test_a_check_run_past_its_timeout_stops_with_an_error(handout, capsys):
    from siglip2_min.exercises.__main__ import main

    # 0.3 s is less than pytest and torch take to start, so the run is stopped as an endless loop would be
    assert main(["check", "3", "--dir", str(handout), "--timeout", "0.3"]) == 1
    assert "ran longer than 0.3 s" in capsys.readouterr().err
