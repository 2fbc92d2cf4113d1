"""AU-intensity metrics: ICC(3,1), Pearson correlation and mean absolute error, per AU and averaged.

ICC(3,1) is Shrout & Fleiss' (1979) two-way mixed, consistency, single-rater intraclass correlation, the measure
FERA 2015 and the AU-intensity papers report. With the ground truth and the prediction as the two "raters" of
``n`` targets: ``ICC = (BMS - EMS) / (BMS + (k - 1) EMS)``, BMS the between-targets mean square and EMS the residual
mean square of the two-way ANOVA. Like PCC it ignores a constant offset, unlike PCC it penalises a wrong scale.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from facekit.fau.model import FAU_AUS


def icc31(ratings) -> float:
    """ICC(3,1) of an (n targets, k raters) array. NaN when undefined (fewer than 2 targets or no variance)."""
    x = np.asarray(ratings, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"icc31 expects an (n targets, k >= 2 raters) array, got shape {x.shape}.")
    n, k = x.shape
    if n < 2:
        return float("nan")
    grand = x.mean()
    ss_rows = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_err = ((x - grand) ** 2).sum() - ss_rows - ss_cols
    bms = ss_rows / (n - 1)
    ems = ss_err / ((n - 1) * (k - 1))
    denom = bms + (k - 1) * ems
    return float((bms - ems) / denom) if denom > 0 else float("nan")


def icc(y_true, y_pred) -> float:
    """ICC(3,1) between ground truth and prediction (1-D arrays of the same length)."""
    return icc31(np.column_stack([np.asarray(y_true, float).ravel(), np.asarray(y_pred, float).ravel()]))


def pcc(y_true, y_pred) -> float:
    """Pearson correlation; NaN when either side is constant."""
    a, b = np.asarray(y_true, float).ravel(), np.asarray(y_pred, float).ravel()
    if a.size < 2 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def mae(y_true, y_pred) -> float:
    return float(np.abs(np.asarray(y_true, float) - np.asarray(y_pred, float)).mean())


def score_aus(y_true, y_pred, aus=FAU_AUS) -> pd.DataFrame:
    """Per-AU ICC(3,1), PCC and MAE of (n, A) intensities, plus a ``mean`` row: index AU6.., columns icc/pcc/mae."""
    t, p = np.asarray(y_true, float), np.asarray(y_pred, float)
    if t.shape != p.shape or t.ndim != 2 or t.shape[1] != len(aus):
        raise ValueError(f"score_aus: y_true {t.shape} and y_pred {p.shape} must both be (n, {len(aus)}) "
                         f"for AUs {list(aus)}.")
    rows = {f"AU{a}": {"icc": icc(t[:, j], p[:, j]), "pcc": pcc(t[:, j], p[:, j]), "mae": mae(t[:, j], p[:, j])}
            for j, a in enumerate(aus)}
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.loc["mean"] = df.mean(axis=0, skipna=True)
    df.index.name = "au"
    return df


def score_domains(results: dict[str, tuple], aus=FAU_AUS) -> pd.DataFrame:
    """``{"lab": (y_true, y_pred), "wild": (...)}`` -> long table with columns domain, au, icc, pcc, mae."""
    frames = [score_aus(t, p, aus).reset_index().assign(domain=name) for name, (t, p) in results.items()]
    df = pd.concat(frames, ignore_index=True)
    return df[["domain", "au", "icc", "pcc", "mae"]]
