"""What ``QUICK=True`` means, in one place: the small sizes each notebook runs with in the test suite.

A notebook hands its full-run sizes (its parameters) to :func:`facekit.setup` and reads the sizes to use back from
``ctx.sizes``; in QUICK mode each named size is replaced by this table's value (a number, or a function of the full
value such as "the first two seeds"). Sizes the table does not name keep their full value, so a new parameter is
never silently shrunk.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Callable

__all__ = ["QUICK_SIZES", "check_quick", "quick_sizes"]

#: notebook stem -> size name -> the QUICK value (or a function of the full value).
QUICK_SIZES: dict[str, dict[str, Any | Callable[[Any], Any]]] = {
    "00_setup": {"repeats": 3},
    "01_data": {"n_scale": 0.02, "bench_faces": 500, "n_per_class": 10, "n_prototype": 10},
    "02_emotion_training": {"epochs": 1, "bn_trace_steps": 5},
    "03_gradcam": {"n_per_class": 2, "road_n": 2, "n_validation": 2},
    "04_imbalance": {"n_scale": 0.04, "epochs": 1, "train_fraction": 1.0, "max_steps": 4, "n_validation": 2,
                     "spread_seeds": lambda seeds: tuple(seeds)[:2]},
    "05_fau_demo": {"n_eval": 40},
    "06_au_vs_direct": {"n_train": 140, "n_test": 70, "n_gap": 12},
    "07_fewshot": {"lrs": lambda lrs: [lrs[1], lrs[-2]], "seeds": lambda seeds: list(seeds)[:2], "n_wild": 16,
                   "epochs": lambda epochs: min(epochs, 2)},
    "08_patch_attention": {"n_eval": 24, "n_boot": 100},
    "09_playground": {"moves": 5},
}


def check_quick(quick) -> bool:
    """``QUICK`` as a bool; text such as ``"false"`` (``papermill -p QUICK false`` passes a string) is refused."""
    if isinstance(quick, bool):
        return quick
    raise TypeError(f"QUICK must be True or False, got {quick!r} ({type(quick).__name__}). From the command line "
                    "use `facekit run --quick`, or papermill's `-p QUICK True` / `-y 'QUICK: false'`.")


def quick_sizes(notebook: str, quick: bool, full: dict[str, Any]) -> SimpleNamespace:
    """The sizes a run uses: ``full`` as given, or, when ``quick``, each replaced by :data:`QUICK_SIZES`' value."""
    table = QUICK_SIZES.get(notebook, {}) if check_quick(quick) else {}
    used = {}
    for name, value in full.items():
        small = table.get(name, value)
        used[name] = small(value) if callable(small) else small
    return SimpleNamespace(**used)
