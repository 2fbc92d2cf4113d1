"""The answer prose of Task 2, Q2.1-Q2.4, notebook 05: the pretrained model, its per-AU errors and domains; the provenance row."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from facekit.fau.au_emotion import (
    ACTIVE_THRESHOLD,
)


def trained_text(settings: dict, train_seconds: float | None = None) -> str:
    """What the checkpoint's training record says, in words: faces, epochs, augmentation, time."""
    if not settings:
        return "no training record in the checkpoint"
    aug = ("lab-to-wild augmentation (`--robust`)" if settings.get("robust") else
           "light flip/shift/brightness augmentation" if settings.get("augment") else "no augmentation")
    took = f", {train_seconds / 60:.0f} min of training" if train_seconds else ""
    return (f"{settings.get('n_train', '?')} generated lab faces, {settings.get('epochs', '?')} epochs, {aug}, "
            f"seed {settings.get('seed', '?')}{took}")


def gives_up_text(n_small: int, n_big: int, in_channels: int, input_size: int, map_size: int,
                  train_seconds: float | None) -> str:
    """What the small default gives up against the ResNet-50 layout, each item a number of this run."""
    bought = (f"; in exchange, its shipped checkpoint trained in {train_seconds / 60:.0f} min on the CPU"
              if train_seconds else "")
    return (f"It gives up {1 - n_small / n_big:.1%} of the parameters, colour ({in_channels} input channel"
            f"{'s' if in_channels > 1 else ''} instead of 3) and spatial precision (one map pixel = "
            f"{input_size // map_size} image pixels){bought}.")


#: A true intensity below this is "absent" when looking for false readings.
ABSENT = 0.5


def per_au_error_text(pred: pd.DataFrame, true: pd.DataFrame, absent: float = ABSENT,
                      threshold: float = ACTIVE_THRESHOLD) -> str:
    """How the errors vary across AUs (subject x AU tables): the per-AU MAE from best to worst, and the false
    readings (predicted >= ``threshold`` where the true intensity is below ``absent``; the largest named) and
    misses (true >= ``threshold``, predicted below ``absent``)."""
    err = (pred - true).abs().mean().sort_values()
    text = ("Per AU, the mean absolute error over the " + f"{len(pred)} faces runs from "
            + ", ".join(f"{a} {v:.2f}" for a, v in err.items()) + ".")
    false = [(pred.loc[s, a], s, a) for s in pred.index for a in pred.columns
             if true.loc[s, a] < absent and pred.loc[s, a] >= threshold]
    missed = [(true.loc[s, a], s, a) for s in pred.index for a in pred.columns
              if true.loc[s, a] >= threshold and pred.loc[s, a] < absent]
    if false:
        v, s, a = max(false)
        text += (f" False readings (predicted >= {threshold:g} where the truth is below {absent:g}): {len(false)}; "
                 f"the largest is **{a} = {v:.2f} on {s}, whose true {a} is {true.loc[s, a]:.2f}**.")
    else:
        text += f" No false reading: no AU is predicted >= {threshold:g} where its truth is below {absent:g}."
    if missed:
        v, s, a = max(missed)
        text += f" Misses (true >= {threshold:g}, predicted below {absent:g}): {len(missed)}, e.g. {a} on {s} (true {v:.2f})."
    return text


def predicted_vs_true_text(pred: pd.DataFrame, true: pd.DataFrame | None) -> str:
    """How intensities vary across subjects and AUs, said as what the model *predicts* against the truth (the
    errors are the model's, not facts about the faces): per AU the predicted and true mean and range; the AU the
    model under-reads most and the one it over-reads most."""
    pm, pr = pred.mean(), pred.max() - pred.min()
    if true is None:
        return (f"Predicted (no labels): across subjects {pr.idxmax()} varies most (range {pr.max():.2f}); across "
                f"AUs the model predicts {pm.idxmax()} highest on average ({pm.max():.2f}) and {pm.idxmin()} lowest "
                f"({pm.min():.2f}). Without labels these are readings, not facts about the faces.")
    tm, tr = true.mean(), true.max() - true.min()
    bias = (pm - tm).sort_values()
    per_au = "; ".join(f"{a} {pm[a]:.2f} vs {tm[a]:.2f} (range {pr[a]:.2f} vs {tr[a]:.2f})" for a in pred.columns)
    text = f"Predicted against true mean intensity per AU over the {len(pred)} subjects (and range across them): {per_au}."
    lo, hi = bias.index[0], bias.index[-1]
    if bias[lo] < 0:
        text += f" The model under-reads {lo} most ({bias[lo]:+.2f} on average)"
    if bias[hi] > 0:
        text += (" and" if bias[lo] < 0 else " The model") + f" over-reads {hi} most ({bias[hi]:+.2f})"
    text += "." if bias[lo] < 0 or bias[hi] > 0 else ""
    true_top, pred_top = tm.idxmax(), pm.idxmax()
    if true_top != pred_top:
        text += (f" So the AU the model reads strongest ({pred_top}) is not the strongest in the faces ({true_top}): "
                 "a ranking of the predictions is a statement about the model, not the faces.")
    return text


def domain_text(mean: pd.DataFrame, n: int, faces: str, model: str, training: str) -> str:
    """Q2.4's lab/wild scores: ``mean`` (index lab/wild, columns icc/mae), on ``n`` generated faces per domain
    (``faces`` names them), of ``model`` trained as ``training`` says."""
    lab, wild = mean.loc["lab"], mean.loc["wild"]
    move = "loses" if wild["icc"] < lab["icc"] else "gains"
    return (f"On {n} generated held-out faces per domain ({faces}), {model} has mean ICC(3,1) **{lab['icc']:.2f} on "
            f"lab** and **{wild['icc']:.2f} on wild** (MAE {lab['mae']:.2f} vs {wild['mae']:.2f}). It was trained on "
            f"{training}; on wild faces it {move} {abs(lab['icc'] - wild['icc']):.2f} ICC.")


#: Columns of every notebook's ``provenance.csv`` (collected into the answer sheet's table).
PROVENANCE_COLUMNS = ("checkpoint", "trained_by", "face_set", "n_faces", "answers")


def _init_name(init, path) -> str:
    name = Path(str(init)).name
    return f"an earlier `{name}`" if path is not None and name == Path(str(path)).name else f"`{name}`"


def provenance_row(model, face_set: str, n_faces, answers: str, trained_by: str | None = None) -> dict:
    """One row of ``provenance.csv``: the checkpoint file behind ``model``, how it was trained (from its record, or
    ``trained_by``), the face set and its size, and the questions whose numbers come from it."""
    path = getattr(model, "checkpoint_path", None)
    if trained_by is None:
        if getattr(model, "checkpoint_format", "facekit") != "facekit":
            trained_by = "the starter's own training (converted on load)"
        else:
            s = dict(getattr(model, "train_settings", {}) or {})
            cfg = getattr(model, "config", None)
            extra = [x for x, on in (("17 AUs", cfg is not None and len(getattr(cfg, "aus", ())) > 5),
                                     ("patch attention", getattr(cfg, "patch_attention", False))) if on]
            init = s.get("init")
            trained_by = ("`facekit train-fau`: " + trained_text(s) + "".join(f", {e}" for e in extra)
                          + (f", continued from {_init_name(init, path)}" if init else "")) if s else "no record"
    return {"checkpoint": Path(str(path)).name if path else "?", "trained_by": trained_by, "face_set": face_set,
            "n_faces": n_faces, "answers": answers}
