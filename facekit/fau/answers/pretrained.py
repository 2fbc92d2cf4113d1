"""The answer prose of Task 2, Q2.1-Q2.4, notebook 05: the Bottleneck and the deconvolution head, the pretrained model
on `test/`, its per-AU errors and domains; the provenance row."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from facekit.fau.au_emotion import ACTIVE_THRESHOLD
from facekit.fau.folders import NO_LABELS

_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def _count(n: int) -> str:
    """A small count in words, as the prose writes it; a larger one in digits."""
    return _WORDS[n] if 0 <= n < len(_WORDS) else f"{n:,}"


def _colour(in_channels: int) -> str:
    return {1: "grey", 3: "RGB"}.get(in_channels, f"{in_channels}-channel")


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


def bottleneck_text(channels: tuple[int, int, int], sides: tuple[int, int], n_big: int, n_small: int, big, small,
                    train_seconds: float | None = None) -> str:
    """Q2.1: what one ``Bottleneck`` did to a tensor (``channels``: input, after the first 1x1, output; ``sides``:
    input and output side in pixels) and what the assignment's layout ``big`` (a ``FAUConfig``) costs against this
    workbook's default ``small``: ``n_big`` and ``n_small`` parameters; ``train_seconds`` as :func:`gives_up_text`."""
    c_in, c_mid, c_out = channels
    side_in, side_out = sides
    thin = c_mid < c_in
    first = (f"squeezes the channels with a 1x1 convolution ({c_in} -> {c_mid})" if thin else
             f"starts with a 1x1 convolution that does not squeeze ({c_in} -> {c_mid})")
    stride = side_in // side_out
    spatial = (f"with stride {stride} here: {side_in} -> {side_out} pixels" if stride > 1 else
               f"stride 1 here: the side stays {side_in} pixels")
    blocks = ("one block per stage" if set(small.layers) == {1} else f"{list(small.layers)} blocks per stage")
    return (f"**Answer.** A `Bottleneck` {first}, does the spatial 3x3 work on {'the thin' if thin else 'that'} "
            f"tensor ({spatial}), and expands {c_out // c_mid}x with a second 1x1 ({c_out} channels). The "
            "`downsample` branch (1x1 conv + BatchNorm) reshapes the shortcut so it can be added when the stride or "
            "the channel count changes; ReLU comes after the add. The assignment's ResNet-50 layout with "
            f"{_count(len(big.deconv_filters))} {big.deconv_filters[0]}-filter deconvolutions has **{n_big:,} "
            f"parameters** at {big.input_size}x{big.input_size} {_colour(big.in_channels)} input ({big.map_size}x"
            f"{big.map_size} maps); this workbook's default has **{n_small:,}** ({n_small / n_big:.1%}): {blocks} "
            f"instead of {list(big.layers)}, base width {small.base_width} instead of {big.base_width}, "
            f"{small.deconv_filters[0]} deconvolution filters instead of {big.deconv_filters[0]}, "
            f"{_colour(small.in_channels)} {small.input_size}x{small.input_size} input and {small.map_size}x"
            f"{small.map_size} maps. "
            + gives_up_text(n_small, n_big, small.in_channels, small.input_size, small.map_size, train_seconds))


#: Below this, the heatmap readout inverts the targets (Q2.2's round trip).
ROUNDTRIP_TOLERANCE = 0.01


def _point_name(points: str) -> str:
    """``cheek_l / cheek_r`` -> ``cheek``: the generator's point names of one AU without their side."""
    names = dict.fromkeys(p.strip().removesuffix("_l").removesuffix("_r") for p in points.split("/"))
    return " and ".join(n.replace("_", " ") for n in names)


def head_text(input_size: int, map_size: int, aus, maps_per_au: int, roundtrip_error: float, regions: pd.DataFrame,
              table: str = "au_regions_vs_pyfeat.csv", examples: tuple[str, ...] = ("AU6", "AU17")) -> str:
    """Q2.2: the deconvolution head of a model with ``input_size`` input and ``map_size`` maps, ``maps_per_au`` maps
    for each AU of ``aus`` (numbers), the readout's worst error on clean targets (``roundtrip_error``), and the
    ``examples`` of ``regions`` (:func:`facekit.fau.au_region_reference`, saved as ``table``) that py-feat's region
    map names muscles for."""
    ratio = input_size // map_size
    n_deconv = (map_size * 32 // input_size).bit_length() - 1          # each deconvolution doubles the side
    labels = [f"AU{a}" for a in aus]
    readout = (f"recovers the labels to within {roundtrip_error:.1e}" if roundtrip_error < ROUNDTRIP_TOLERANCE else
               f"misses the labels by up to {roundtrip_error:.2f}: the readout does not invert the targets")
    named = [a for a in regions.index if regions.loc[a, "pyfeat_muscles"] not in ("", "-")]
    shown = [a for a in examples if a in named] or named[:2]
    if shown:
        points = (": py-feat's FACS region map names the same muscles in the same places, e.g. " + ", ".join(
            f"{a} = {regions.loc[a, 'pyfeat_muscles']} (our {_point_name(regions.loc[a, 'our_points'])} points)"
            for a in shown) + ".")
    else:
        points = "; py-feat's FACS region map names no muscles for these AUs, so it cannot confirm them."
    return (f"**Answer.** Each deconvolution doubles the side (kernel 4, stride 2, padding 1), so {_count(n_deconv)} "
            f"of them bring `layer4`'s 1/32 map back to 1/{ratio} of the input: {map_size}x{map_size} here, "
            f"{256 // ratio}x{256 // ratio} for a 256x256 input. `final_layer` gives {len(labels) * maps_per_au} "
            f"maps, {_count(maps_per_au)} per AU in the order {', '.join(labels)}"
            f"{' (left then right point)' if maps_per_au == 2 else ''}. A map is a Gaussian bump at the point whose "
            "*height* is the intensity, so the readout is the map's maximum, averaged over the AU's "
            f"{_count(maps_per_au)} maps: on the clean targets of `test/` it {readout}. The points come from the "
            f"generator's landmarks (`{table}`){points}")


#: A true intensity below this is "absent" when looking for false readings.
ABSENT = 0.5


def per_au_error_text(pred: pd.DataFrame, true: pd.DataFrame, absent: float = ABSENT,
                      threshold: float = ACTIVE_THRESHOLD) -> str:
    """How the errors vary across AUs (subject x AU tables): the per-AU MAE from the smallest to the largest (both
    named first), the false readings (predicted >= ``threshold`` where the true intensity is below ``absent``; the
    largest named) and the misses (true >= ``threshold``, predicted below ``absent``)."""
    err = (pred - true).abs().mean().sort_values()
    lo, hi = err.index[0], err.index[-1]
    spread = ("is the same for every AU" if f"{err[lo]:.2f}" == f"{err[hi]:.2f}" else
              f"runs from {err[lo]:.2f} ({lo}) to {err[hi]:.2f} ({hi})")
    text = (f"Per AU, the mean absolute error over the {len(pred)} faces {spread}: "
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


def q23_text(pred: pd.DataFrame, true: pd.DataFrame | None, mae_all: float | None = None,
             chin_px: float | None = None, image_size: int | None = None, no_labels: str = NO_LABELS) -> str:
    """Q2.3 on ``test/``: ``pred`` and ``true`` (``None``: no labels) are subject x AU tables. AU17's strongest and
    weakest subject; with labels, AU17's error against ``mae_all`` (all AUs; ``None``: computed here), ``chin_px``
    (mean distance of the AU17 peaks from the chin points where AU17 is present, of ``image_size`` pixels; ``NaN``
    or ``None``: AU17 present nowhere) and the per-AU errors (:func:`per_au_error_text`)."""
    au17 = pred["AU17"]
    hi, lo = au17.idxmax(), au17.idxmin()
    if true is None:
        return (f"**Answer.** Overlays for all {len(au17)} subjects are in `visualize/test/` (and "
                f"`visualize/course_test/` as run_demo.py names them). AU17 (chin raiser) is strongest for **{hi}** "
                f"({au17[hi]:.2f}) and weakest for {lo} ({au17[lo]:.2f}). Errors against the truth: {no_labels}.")
    true17 = true["AU17"]
    if mae_all is None:
        mae_all = float((pred - true).abs().mean().mean())
    chin = ("AU17 is present on none of the faces, so there is no peak to place on the chin points. "
            if chin_px is None or pd.isna(chin_px) else
            f"Where AU17 is present, its maps peak {chin_px:.1f} pixels (of {image_size}) from the chin points on "
            "average, the region py-feat's map gives the mentalis. ")
    n = _count(len(pred))
    return (f"**Answer.** Overlays for all {n} subjects are in `visualize/test/`. AU17 (chin raiser) is strongest for "
            f"**{hi}** ({au17[hi]:.2f}; true {true17[hi]:.2f}) and weakest for {lo} ({au17[lo]:.2f}; true "
            f"{true17[lo]:.2f}); over the {n} faces its mean absolute error is {(au17 - true17).abs().mean():.2f} "
            f"intensity points, against {mae_all:.2f} for all {_count(len(pred.columns))} AUs. " + chin
            + per_au_error_text(pred, true))


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
