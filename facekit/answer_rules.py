"""Rules that choose the words of the answers from the numbers: how a difference of two rates is written, whether a
fix beats both the baseline and the control run, whether a change is larger than the seed spread measured beside
it, and how a before/after on one metric is worded. Pure functions over numbers, shared by the answer texts."""
from __future__ import annotations

import math


def pct(rate: float, digits: int = 1) -> str:
    """A rate (a fraction 0..1) as a percentage: ``0.582 -> "58.2%"``; not finite -> ``"n/a"``."""
    return f"{rate:.{digits}%}" if math.isfinite(rate) else "n/a"


def pp(diff: float, digits: int = 1, signed: bool = True) -> str:
    """A difference of two rates (fractions) in percentage points: ``0.564 -> "+56.4 pp"`` (``"56.4 pp"`` when not
    ``signed``)."""
    return f"{diff * 100:{'+' if signed else ''}.{digits}f} pp" if math.isfinite(diff) else "n/a"


def versus_control_kind(before: float, after: float, control: float, step: float = 0.0) -> str:
    """The rule behind :func:`versus_control_text`: ``"credited"`` when ``after`` beats both the baseline ``before``
    and the ``control`` run by more than ``step``; ``"control"`` when it beats the baseline but the control run
    scores as well or better (the gain is not the fix's); else ``"no gain"`` (then :func:`versus_control_text` still
    says whether the fix did better or worse than the control, its own effect)."""
    if not after > before + step:
        return "no gain"
    if not after > control + step:
        return "control"
    return "credited"


def versus_control_text(name: str, before: float, after: float, control: float | None, step: float = 0.0,
                        digits: int = 1) -> str:
    """One sentence on a rate ``name`` before and after the fix, judged against the baseline and, when given, the
    ``control`` run (:func:`versus_control_kind`); rates in percent, differences in percentage points."""
    numbers = f"{name} goes {pct(before, digits)} -> {pct(after, digits)} ({pp(after - before, digits)})"
    if control is None or not math.isfinite(control):
        return numbers + (" over the baseline." if after > before + step else ": no gain over the baseline.")
    kind = versus_control_kind(before, after, control, step)
    if kind == "credited":
        return (f"{numbers}, and the control run scored {pct(control, digits)}: the fix gains "
                f"{pp(after - control, digits)} over the control.")
    if kind == "control":
        loses = (f"; against the control the fix loses {pp(after - control, digits).lstrip('-')}"
                 if after < control - step else "")
        return (f"{numbers}, but the control run scored {pct(control, digits)}, so the gain over the baseline is "
                f"not the fix's{loses}.")
    d = after - control  # no gain over the baseline; the control still tells what the fix itself did
    if d > step and control < before:
        return (f"{numbers}: no gain over the baseline. The control run scored {pct(control, digits)}: retraining "
                f"alone costs {pp(before - control, digits, signed=False)}, and the fix wins back "
                f"{pp(d, digits, signed=False)} of it.")
    if d < -step:
        return (f"{numbers}: no gain over the baseline, and the control run scored {pct(control, digits)}: against "
                f"it the fix loses {pp(-d, digits, signed=False)}.")
    return f"{numbers}: no gain over the baseline (the control run scored {pct(control, digits)}, as much)."


def beyond_spread(before: float, after: float, low: float, high: float) -> bool:
    """Whether a change ``before -> after`` is larger than the seed spread ``low..high`` measured beside it (the
    width of the range): only then may the text claim a change."""
    return abs(after - before) > abs(high - low)


def spread_change_text(name: str, before: float, after: float, spread: tuple[float, float] | None,
                       up: str = "rises", down: str = "falls", fmt: str = ".4f") -> str:
    """``name`` before -> after with a claim of change (``up`` / ``down``, in bold) only when the change is beyond
    the seed ``spread`` (:func:`beyond_spread`); otherwise the change is "within the seed spread (a-b)". Without a
    spread, any change is worded as ``up`` / ``down``."""
    numbers = f"{before:{fmt}} -> {after:{fmt}}"
    if spread is not None and not beyond_spread(before, after, *spread):
        return (f"{name} goes {numbers}, a change within the seed spread ({spread[0]:{fmt}}-{spread[1]:{fmt}}), "
                "so no change is claimed")
    word = up if after > before else down
    return f"{name} **{word}** ({numbers})"


def change_kind(before: float, after: float, higher_is_better: bool, step: float = 0.0,
                spread: float = 0.0) -> str:
    """``"unchanged"``, ``"better"`` or ``"worse"`` for a before/after on one metric: a change no larger than the
    tolerance (``step`` or the seed ``spread``, whichever is larger) is unchanged."""
    d = after - before
    if abs(d) <= max(step, spread):
        return "unchanged"
    return "better" if (d > 0) == higher_is_better else "worse"


#: How :func:`source_domain_text` words each :func:`change_kind` for the source domain.
SOURCE_WORDS = {"unchanged": "the source domain keeps its accuracy",
                "better": "the source domain improves",
                "worse": "tuning costs accuracy on the source domain"}


def source_domain_text(before: float, after: float, higher_is_better: bool, step: float = 0.0,
                       spread: float = 0.0) -> str:
    """The source domain's before/after in words (keeps / improves / loses), by the same rule as the per-metric
    verdicts (:func:`change_kind`)."""
    return SOURCE_WORDS[change_kind(before, after, higher_is_better, step, spread)]
