"""Task 1 Q2: ``plot_loss`` / ``plot_acc`` on a made-up 3-epoch history. Any way of drawing that shows the right
columns against the epochs, labelled by split, passes: ``ax.plot``, pandas, seaborn (``hue``), the pyplot state
interface, accuracy as fractions or percent, a chance line drawn with ``axhline`` / ``hlines`` / ``axline`` / a flat
``plot``, a legend on the axes or the figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import AxLine, Line2D

from facekit.checks.core import CheckResult, attempt, guarded
from facekit.emotion import plots

SPLITS = ("train", "public", "private")
#: Words a legend label may use for each split (the assignment's PublicTest / PrivateTest, or validation / test).
_SPLIT_WORDS = {"train": ("train",), "public": ("public", "val"), "private": ("private", "test")}
_OTHER_METRIC = {"loss": ("acc",), "acc": ("loss", "entropy")}


def _make_history(epochs: int = 3) -> pd.DataFrame:
    e = np.arange(1, epochs + 1)
    cols = {"epoch": e}
    for i, split in enumerate(SPLITS):
        cols[f"{split}_loss"] = 1.9 - 0.2 * e - 0.05 * i
        cols[f"{split}_acc"] = 0.2 + 0.1 * e - 0.02 * i
    return pd.DataFrame(cols)


def _names_split(label: str, split: str) -> bool:
    text = label.lower()
    if split == "private":
        return "private" in text or ("test" in text and "public" not in text and "val" not in text)
    if split == "public":
        return "public" in text or ("val" in text and "private" not in text)
    return "train" in text


def _legend_entries(fig: Figure) -> list[tuple[object, str]]:
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None] + list(fig.legends)
    return [(h, t.get_text()) for lg in legends for h, t in zip(getattr(lg, "legend_handles", []), lg.get_texts())]


def _label(line: Line2D, entries) -> str:
    """The legend text of ``line``: its own label, or (seaborn's ``hue``) the entry whose handle looks like it."""
    own = line.get_label() or ""
    if not own.startswith("_"):
        return own
    for handle, text in entries:
        if handle is line or (isinstance(handle, Line2D) and to_rgba(handle.get_color()) == to_rgba(line.get_color())
                              and handle.get_linestyle() == line.get_linestyle()):
            return text
    return ""


def _flat_at(y: np.ndarray, level: float) -> bool:
    return len(y) > 0 and np.allclose(y, level, rtol=1e-6, atol=1e-9)


def _chance_drawn(ax: Axes, levels: tuple[float, ...]) -> bool:
    for line in ax.get_lines():
        if isinstance(line, AxLine):
            xy1, xy2, slope = line.get_xy1(), line.get_xy2(), line.get_slope()
            flat = slope == 0 if xy2 is None else np.isclose(xy1[1], xy2[1])
            if flat and any(np.isclose(xy1[1], lv) for lv in levels):
                return True
        elif any(_flat_at(np.asarray(line.get_ydata(), float), lv) for lv in levels):
            return True
    for coll in ax.collections:
        if isinstance(coll, LineCollection):
            for seg in coll.get_segments():
                if len(seg) and any(_flat_at(np.asarray(seg)[:, 1], lv) for lv in levels):
                    return True
    return False


def _curve_problems(fig, history: pd.DataFrame, metric: str, what: str, chance: float | None) -> list[str]:
    if isinstance(fig, Axes):
        return [f"{what} returned the Axes; return the Figure (ax.figure)"]
    if not isinstance(fig, Figure):
        return [f"{what} returned {type(fig).__name__ if fig is not None else 'None'}, not a matplotlib Figure"]
    axes = [ax for ax in fig.axes if any(len(ln.get_xdata()) for ln in ax.get_lines())]
    if not axes:
        return [f"{what}: the figure has no axes with lines"]
    ax, entries = axes[0], _legend_entries(fig)
    epochs = history["epoch"].to_numpy(float)
    columns = {f"{s}_{metric}": history[f"{s}_{metric}"].to_numpy(float) for s in SPLITS}
    scales = (1.0, 100.0) if metric == "acc" else (1.0,)
    levels = tuple(chance * s for s in scales) if chance is not None else ()
    problems, shown = [], []
    for line in ax.get_lines():
        x, y = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
        if isinstance(line, AxLine) or not len(y) or _flat_at(y, y[0]):
            continue                                       # a legend handle, or a reference line (chance)
        match = [c for c, v in columns.items() for s in scales if len(y) == len(v) and np.allclose(y, v * s)]
        if len(x) != len(epochs):
            problems.append(f"{what}: a line has {len(x)} points, the history has {len(epochs)} epochs")
        elif not np.allclose(x, epochs):
            problems.append(f"{what}: a line is not drawn against the 'epoch' column")
        elif not match:
            problems.append(f"{what}: a line shows none of the columns " + ", ".join(columns))
        else:
            shown.append(match[0])
            split, label = match[0].split("_")[0], _label(line, entries)
            if not label:
                problems.append(f"{what}: the line of {match[0]} has no label for the legend")
            elif not _names_split(label, split):
                problems.append(f"{what}: the line of {match[0]} is labelled '{label}', which does not name the "
                                f"{split} split ({' / '.join(_SPLIT_WORDS[split])})")
    missing = [c for c in columns if c not in shown]
    if missing:
        problems.append(f"{what}: {len(set(shown))} of 3 splits drawn; missing {', '.join(missing)}")
    if len(shown) != len(set(shown)):
        problems.append(f"{what}: a split is drawn more than once")
    xlabel, ylabel = ax.get_xlabel(), ax.get_ylabel()
    if not xlabel or not ylabel:
        problems.append(f"{what}: label both axes (x: '{xlabel}', y: '{ylabel}')")
    elif any(word in ylabel.lower() for word in _OTHER_METRIC[metric]):
        problems.append(f"{what}: the y axis is labelled '{ylabel}', but this figure shows the {metric}")
    if not entries:
        problems.append(f"{what}: no legend, so the splits cannot be told apart")
    if chance is not None and not _chance_drawn(ax, levels):
        problems.append(f"{what}: no reference line at the chance level {chance} (the value of the chance argument)")
    return problems


def _close(fig) -> None:
    target = fig.figure if isinstance(fig, Axes) else fig
    if isinstance(target, Figure):
        plt.close(target)


@guarded("Task 1 Q2")
def check_curves(result: CheckResult, plot_loss=None, plot_acc=None) -> None:
    """Task 1 Q2: ``plot_loss`` / ``plot_acc`` on a made-up 3-epoch history."""
    plot_loss, plot_acc = plot_loss or plots.plot_loss, plot_acc or plots.plot_acc
    history = _make_history()
    for what, func, metric, chance in (("plot_loss(history)", plot_loss, "loss", None),
                                       ("plot_acc(history, chance=0.25)", plot_acc, "acc", 0.25)):
        ok, fig = attempt(result, what, func, history, **({"chance": chance} if chance is not None else {}))
        if not ok:
            continue
        try:
            problems = _curve_problems(fig, history, metric, what, chance)
        finally:
            _close(fig)
        result.add(not problems, f"{what}: one labelled line per split (train, PublicTest, PrivateTest), one point "
                                 "per epoch, labelled axes, a legend" if not problems else problems[0])
