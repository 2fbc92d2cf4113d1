"""Where each AU sits on a face: the two landmarks every AU's heatmaps are centred on, and the template face (the
mean landmarks of neutral generated faces) that real photos are registered to (:mod:`facekit.fau.register`).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from facekit.fau.model import FAU_AUS
from facekit.synth.regions import AU_LANDMARKS
from facekit.synth import LANDMARK_NAMES
from facekit.synth import render_faces

AU_POINTS: dict[int, tuple[str, str]] = AU_LANDMARKS
"""The two generator landmarks each AU's heatmaps are centred on (``_l`` = image left), for every generated AU."""


def swaps_on_flip(aus=FAU_AUS) -> np.ndarray:
    """(A,) bool: whether an AU's two points are a left/right pair (they swap when the face is mirrored)."""
    return np.array([AU_POINTS[a][0].endswith("_l") and AU_POINTS[a][1].endswith("_r") for a in aus])


def au_points(landmarks, landmark_names=None, aus=FAU_AUS) -> np.ndarray:
    """Generator landmarks (N, K, 2) -> (N, A, 2, 2) heatmap points of ``aus`` (default the five), by
    :data:`AU_POINTS`."""
    if landmark_names is None:
        landmark_names = LANDMARK_NAMES
    names = list(landmark_names)
    unknown = [a for a in aus if a not in AU_POINTS]
    if unknown:
        raise KeyError(f"No heatmap points for AU{unknown}: add them to facekit.fau.points.AU_POINTS.")
    missing = sorted({n for a in aus for n in AU_POINTS[a]} - set(names))
    if missing:
        raise KeyError(f"The generator's LANDMARK_NAMES lack {missing}, needed by facekit.fau.points.AU_POINTS.")
    idx = np.array([[names.index(a), names.index(b)] for a, b in (AU_POINTS[au] for au in aus)])
    return np.asarray(landmarks, dtype=np.float32)[:, idx]


@lru_cache(maxsize=8)
def _template(size: int) -> np.ndarray:

    batch = render_faces(64, seed=12345, domain="lab", size=size, nuisance=False)
    mean = np.asarray(batch.landmarks, dtype=np.float32).mean(axis=0)
    return mean


def template_landmarks(size: int = 128) -> dict[str, np.ndarray]:
    """Mean landmark positions (x, y) of neutral generated faces at ``size``: the frame real faces are registered to."""
    mean = _template(size)
    return {name: mean[i].copy() for i, name in enumerate(LANDMARK_NAMES)}


def template_points(size: int = 128, aus=FAU_AUS) -> np.ndarray:
    """(A, 2, 2) heatmap points of ``aus`` on the mean generated face, for registered real faces without landmarks."""
    return au_points(_template(size)[None], LANDMARK_NAMES, aus)[0]
