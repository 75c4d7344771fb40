"""`python -m siglip2_min.exercises`: write a student handout, or run the checks with a short report.

Exit codes: 0 done (every selected check passes, for `check`), 1 some checks fail (or the run failed or timed
out), 2 a usage error.
"""

import argparse
import sys

from .. import fileio
from . import exercise_names
from .check import as_json, find_checks, report, run_checks, select
from .handout import write_handout


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m siglip2_min.exercises", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("handout", help="write a student folder: pages, stubs and checks, no solutions")
    p.add_argument("out", metavar="OUT", help="the folder to write (must not exist, unless --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists (its files are lost)")
    p = sub.add_parser("check", help="run the checks; one line per failing exercise, then the scores")
    p.add_argument("numbers", nargs="*", type=int, metavar="N", help="exercise numbers (default: all)")
    p.add_argument("--dir", default=".", metavar="OUT", help="the handout folder (default: the current folder)")
    p.add_argument("--json", action="store_true", help="print the scores as JSON (for grading scripts)")
    p.add_argument("--timeout", type=float, default=900, metavar="S",
                   help="stop the run after S seconds (default 900): a solution that loops forever cannot hang it")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "handout":
        try:
            out, names = write_handout(args.out, overwrite=args.overwrite)
        except (fileio.OutputError, FileNotFoundError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"wrote {out}: {len(names)} exercises (README.md, pages, student/ stubs, checks/); no solutions")
        print(f"next: cd {out} && python -m siglip2_min.exercises check")
        return 0
    try:
        checks, student = find_checks(args.dir)
        names = select(exercise_names(checks), args.numbers)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        results = run_checks(checks, student, names, timeout=args.timeout)
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(as_json(results) if args.json else report(results))
    return 0 if all(r["passed"] == r["total"] > 0 for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
