"""argparse types shared by the course's commands: a bad value fails at once, before any data is loaded or rendered."""
from __future__ import annotations

import argparse
import math

__all__ = ["MAX_SEED", "bounded", "int_list", "non_negative_float", "positive_float", "positive_int", "seed_int",
           "unit_interval"]


def _parse(text: str, kind, what: str):
    """``kind(text)``, or argparse's error saying what was expected (``a whole number``, ``a number``)."""
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = _parse(text, int, "a whole number")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (``inf``, ``nan``, 0 and negatives refused)."""
    value = _parse(text, float, "a number")
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0 (a negative loss weight would train on a negative loss)."""
    value = _parse(text, float, "a number")
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of 0 or more, got {text}")
    return value


def unit_interval(text: str) -> float:
    """argparse type: a number in 0..1 (a BatchNorm momentum, a fraction); ``nan`` refused."""
    value = non_negative_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must lie in 0..1, got {text}")
    return value


#: The largest seed every generator takes (NumPy's legacy seeding stops at 2**32 - 1).
MAX_SEED = 2**32 - 1


def seed_int(text: str) -> int:
    """argparse type: a seed in 0..2**32-1."""
    value = _parse(text, int, "a whole number")
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must lie in 0..{MAX_SEED} (2**32-1), got {text}")
    return value


def int_list(text: str) -> tuple[int, ...]:
    """argparse type: comma-separated whole numbers >= 1, e.g. ``2,2,2,2``."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas (e.g. 2,2,2,2), got {text!r}") \
            from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"every number must be at least 1, got {text}")
    return values


def bounded(kind, low, high, unit: str = ""):
    """argparse type: ``kind(text)`` (e.g. :func:`positive_float`) that must also lie in ``low..high``."""
    def check(text: str):
        value = kind(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must lie in {low:g}..{high:g}{unit}, got {text}")
        return value
    check.__name__ = kind.__name__
    return check
