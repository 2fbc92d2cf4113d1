"""Task 1 Q6: ``facekit.emotion.imbalance.class_weights``, the re-weighting remedy the notebook trains with:
``w_c = N / (K * n_c)``, 0 for a class without faces, one weight per class of ``num_classes``. Any array-like of
floats passes (tensor, NumPy array, list); labels may come as a tensor, a NumPy array or a list."""
from __future__ import annotations

import numpy as np
import torch

from facekit.checks.core import CheckResult, attempt, guarded
from facekit.emotion import imbalance

#: Labels with classes of 6, 2, 0, 4 and 0 faces among K = 5: w = 12 / (5 * n_c).
_LABELS = [0] * 6 + [1] * 2 + [3] * 4
_K = 5
_EXPECTED = np.array([0.4, 1.2, 0.0, 0.6, 0.0])


def _as_array(value) -> np.ndarray | None:
    try:
        return np.asarray(value.detach() if isinstance(value, torch.Tensor) else value, dtype=float).ravel()
    except (TypeError, ValueError):
        return None


def _why(got: np.ndarray) -> str:
    present = _EXPECTED > 0
    if len(got) != _K:
        return (f"{len(got)} weights for num_classes={_K}: give one weight per class of num_classes, also for the "
                "classes without faces (use num_classes, not the largest label)")
    if not np.all(np.isfinite(got)):
        return "a class without faces gets an infinite or NaN weight: give it weight 0"
    if np.any(got[~present] != 0):
        return "a class without faces gets a weight other than 0"
    ratio = got[present] / _EXPECTED[present]
    if np.allclose(ratio, ratio[0]) and ratio[0] > 0:
        return (f"the weights are proportional to 1 / n_c but {ratio[0]:.3g}x the asked scale: w_c = N / (K * n_c), "
                "so a class as frequent as the average gets weight 1")
    if np.corrcoef(got[present], _EXPECTED[present])[0, 1] < 0:
        return "frequent classes get the larger weights: the weight must fall with the class count (1 / n_c)"
    return "the weights are not N / (K * n_c)"


@guarded("Task 1 Q6")
def check_class_weights(result: CheckResult, class_weights=None) -> None:
    """Task 1 Q6: ``class_weights`` on 12 labels of 5 classes (two of them without faces), as a tensor and a list."""
    class_weights = class_weights or imbalance.class_weights
    for what, labels in (("a tensor", torch.tensor(_LABELS)), ("a NumPy array", np.array(_LABELS)),
                         ("a list", list(_LABELS))):
        call = f"class_weights(labels as {what}, num_classes={_K})"
        ok, value = attempt(result, call, class_weights, labels, num_classes=_K)
        if not ok:
            return
        got = _as_array(value)
        if got is None:
            result.add(False, f"{call} returned {type(value).__name__}, not one number per class")
            return
        right = len(got) == _K and np.allclose(got, _EXPECTED, atol=1e-5)
        if not result.add(right, f"{call} gives w_c = N / (K * n_c), 0 for the empty classes" if right else
                          f"{call} gives {np.round(got, 3).tolist()}: {_why(got)}"):
            return
