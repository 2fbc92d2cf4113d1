"""Where each AU sits on a face: the two landmarks every AU's heatmaps are centred on, and the template face (the
mean landmarks of neutral generated faces) that real photos are registered to (:mod:`facekit.fau.register`).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from facekit.fau.model import FAU_AUS

AU_POINTS: dict[int, tuple[str, str]] = {
    6: ("cheek_l", "cheek_r"),              # cheek raiser: the cheeks rise under the eyes
    10: ("upper_lip_l", "upper_lip_r"),     # upper lip raiser
    12: ("mouth_corner_l", "mouth_corner_r"),  # lip corner puller
    14: ("dimple_l", "dimple_r"),           # dimpler: beside the mouth corners
    17: ("chin_l", "chin_r"),               # chin raiser
}
"""The two generator landmarks each AU's heatmaps are centred on (``_l`` = image left)."""


def au_points(landmarks, landmark_names=None) -> np.ndarray:
    """Generator landmarks (N, K, 2) -> (N, 5, 2, 2) heatmap points, using :data:`AU_POINTS`."""
    if landmark_names is None:
        from facekit.synth import LANDMARK_NAMES as landmark_names
    names = list(landmark_names)
    missing = sorted({n for pair in AU_POINTS.values() for n in pair} - set(names))
    if missing:
        raise KeyError(f"The generator's LANDMARK_NAMES lack {missing}, needed by facekit.fau.points.AU_POINTS.")
    idx = np.array([[names.index(a), names.index(b)] for a, b in (AU_POINTS[au] for au in FAU_AUS)])
    return np.asarray(landmarks, dtype=np.float32)[:, idx]


@lru_cache(maxsize=8)
def _template(size: int) -> tuple[np.ndarray, np.ndarray]:
    from facekit.synth import LANDMARK_NAMES, render_faces

    batch = render_faces(64, seed=12345, domain="lab", size=size, nuisance=False)
    mean = np.asarray(batch.landmarks, dtype=np.float32).mean(axis=0)
    return mean, au_points(mean[None], LANDMARK_NAMES)[0]


def template_landmarks(size: int = 128) -> dict[str, np.ndarray]:
    """Mean landmark positions (x, y) of neutral generated faces at ``size``: the frame real faces are registered to."""
    from facekit.synth import LANDMARK_NAMES

    mean, _ = _template(size)
    return {name: mean[i].copy() for i, name in enumerate(LANDMARK_NAMES)}


def template_points(size: int = 128) -> np.ndarray:
    """(5, 2, 2) heatmap points of the mean generated face, for registered real faces without landmarks."""
    return _template(size)[1].copy()
