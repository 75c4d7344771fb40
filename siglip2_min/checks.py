"""The one place that checks numbers a user hands in: in Python calls, and as `argparse` types on command lines.

    check_int(batch_size, "batch_size")             # an int >= 1, else TypeError/ValueError naming it
    parser.add_argument("--steps", type=arg_int(0))  # an int >= 0, else argparse's one-line usage error
    parser.add_argument("--lr", type=arg_float(0, strict=True))  # a finite float > 0
"""

import argparse
import math
import numbers


def check_int(value, name, minimum=1):
    """`value` as an int if it is an integer >= `minimum` (bools refused), else TypeError or ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def arg_int(minimum=1):
    """An argparse `type` for an integer >= `minimum`: a bad value is a usage error (exit 2), not a traceback."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"  # argparse names the type in "invalid <type> value"
    return parse


def arg_float(minimum=0.0, strict=False):
    """An argparse `type` for a finite float >= `minimum` (> with `strict`): nan and inf are usage errors."""
    relation = ">" if strict else ">="

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number {relation} {minimum:g}, got {text!r}") from None
        if not math.isfinite(value) or value < minimum or (strict and value == minimum):
            raise argparse.ArgumentTypeError(f"expected a finite number {relation} {minimum:g}, got {text}")
        return value

    parse.__name__ = f"number {relation} {minimum:g}"
    return parse
