"""Run exercise checks and report them short: the first failure of each exercise on one line, then a score table.

pytest runs in a subprocess (each check file picks the student's module when it is imported) and writes a JUnit
XML report; only that report is read, so a student sees one line per exercise instead of every failing case.
"""

import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from . import exercise_names

LINE = 150  # characters of a failure message shown


def find_checks(folder):
    """(checks folder, student folder) of a handout, or of a checkout's docs/exercises."""
    folder = Path(folder).resolve()
    for base in (folder, folder / "docs" / "exercises"):
        if (base / "checks").is_dir() and list((base / "checks").glob("test_ex*.py")):
            return base / "checks", base / "student"
    raise FileNotFoundError(f"no exercise checks in {folder} (expected {folder / 'checks'}/test_ex*.py): write a "
                            "handout with `python -m siglip2_min.exercises handout FOLDER`, or pass --dir FOLDER")


def select(names, numbers):
    """The exercises whose number is in `numbers` (all of them when it is empty)."""
    by_number = {int(name[2:].split("_")[0]): name for name in names}
    unknown = [n for n in numbers if n not in by_number]
    if unknown:
        raise ValueError(f"no exercise {unknown[0]}; there are {min(by_number)} to {max(by_number)}")
    return [by_number[n] for n in numbers] if numbers else names


def first_line(case):
    """'test_name: the first line of its failure' for a failed JUnit test case."""
    problem = case.find("failure") if case.find("failure") is not None else case.find("error")
    message = (problem.get("message") or problem.text or "").strip().splitlines() or ["(no message)"]
    if message[0] == "collection failure":  # the check file did not import: say why (the traceback's last E line)
        errors = [line[1:].strip() for line in (problem.text or "").splitlines() if line.startswith("E ")]
        message = [f"cannot load the check: {errors[-1] if errors else 'see pytest ' + case.get('name') + '.py'}"]
    text = f"{case.get('name')}: {message[0]}"
    return text if len(text) <= LINE else text[: LINE - 3] + "..."


def run_checks(checks, student, names, timeout=900):
    """{exercise: {"passed", "total", "first_failure"}} for the check files of `names`.

    A student's endless loop must not hang a grading script: past `timeout` seconds the run stops with an error.
    """
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.xml"
        environ = {**os.environ, "SIGLIP2_EXERCISE_STUDENT_DIR": str(student.resolve())}
        cmd = [sys.executable, "-m", "pytest", "-q", "--tb=no", "-p", "no:cacheprovider", "-o", "addopts=",
               "--continue-on-collection-errors",
               f"--junitxml={report}", *[str(checks / f"test_{name}.py") for name in names]]
        try:
            proc = subprocess.run(cmd, cwd=checks, env=environ, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"the checks ran longer than {timeout} s (an endless loop in a solution?); run "
                               "them one exercise at a time, or pass a longer --timeout") from None
        if not report.exists():
            raise RuntimeError(f"pytest did not run (exit {proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        results = {name: {"passed": 0, "total": 0, "first_failure": None} for name in names}
        for case in ET.parse(report).iter("testcase"):
            name = (case.get("classname") or "").split(".")[-1].removeprefix("test_")
            if name not in results:  # a check file that failed to import reports under another class name
                name = next((n for n in names if n in (case.get("classname") or "") + (case.get("name") or "")),
                            names[0])
            result = results[name]
            result["total"] += 1
            if case.find("failure") is None and case.find("error") is None and case.find("skipped") is None:
                result["passed"] += 1
            elif result["first_failure"] is None:
                result["first_failure"] = first_line(case) if case.find("skipped") is None else "skipped"
    for result in results.values():
        if result["total"] == 0:
            result["first_failure"] = "no test ran: does the check file import?"
    return results


def report(results):
    """The short text report: first failures, one line each, then the score table."""
    lines = []
    failing = [(name, r["first_failure"]) for name, r in results.items() if r["first_failure"]]
    if failing:
        lines.append("First failure of each exercise:")
        width = max(len(name) for name, _ in failing)
        lines += [f"  {name:<{width}}  {failure}" for name, failure in failing]
        lines.append("")
    lines.append(f"  {'exercise':<28} {'passed':>6} {'of':>4} {'score':>6}")
    for name, r in results.items():
        lines.append(f"  {name:<28} {r['passed']:>6} {r['total']:>4} {score(r):>6.2f}")
    total = sum(score(r) for r in results.values())
    lines.append(f"  {'total':<28} {'':>6} {'':>4} {total:>6.2f} of {len(results)}")
    return "\n".join(lines)


def score(result):
    """An exercise's score: the fraction of its checks that pass (0 to 1)."""
    return result["passed"] / result["total"] if result["total"] else 0.0


def as_json(results):
    return json.dumps({"exercises": [{"exercise": name, **r, "score": round(score(r), 4)} for name, r in results.items()],
                       "score": round(sum(score(r) for r in results.values()), 4), "max_score": len(results)},
                      indent=2)
