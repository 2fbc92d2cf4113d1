"""argparse types shared by the course's commands: a bad value fails at once, before any data is loaded or rendered."""
from __future__ import annotations

import argparse
import math

__all__ = ["bounded", "positive_float", "positive_int"]


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (``inf``, ``nan``, 0 and negatives refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text}")
    return value


def bounded(kind, low, high, unit: str = ""):
    """argparse type: ``kind(text)`` (e.g. :func:`positive_float`) that must also lie in ``low..high``."""
    def check(text: str):
        value = kind(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must lie in {low:g}..{high:g}{unit}, got {text}")
        return value
    check.__name__ = kind.__name__
    return check
