"""Where each AU sits on a face: the two landmarks every AU's heatmaps are centred on, and the template face (the
mean landmarks of neutral generated faces) that real photos are registered to (:mod:`facekit.fau.register`).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from facekit.fau.model import FAU_AUS

AU_POINTS: dict[int, tuple[str, str]] = {
    # FACS (Ekman, Friesen & Hager 2002): where each AU moves the face most; two points per AU, left then right
    # (image left = ``_l``). AUs acting on the midline use two midline points (they do not swap under a flip).
    1: ("brow_inner_l", "brow_inner_r"),    # inner brow raiser: frontalis, medial part lifts the inner brow ends
    2: ("brow_outer_l", "brow_outer_r"),    # outer brow raiser: frontalis, lateral part lifts the outer brow ends
    4: ("brow_mid_l", "brow_mid_r"),        # brow lowerer: corrugator/depressor pull the brows down and together
    5: ("eye_top_l", "eye_top_r"),          # upper lid raiser: the upper lid rises, more eye white above the iris
    6: ("cheek_l", "cheek_r"),              # cheek raiser: the cheeks rise under the eyes
    7: ("eye_bottom_l", "eye_bottom_r"),    # lid tightener: orbicularis oculi, inner part raises the lower lid
    9: ("nose_wing_l", "nose_wing_r"),      # nose wrinkler: levator labii alaeque nasi lifts the nose wings
    10: ("upper_lip_l", "upper_lip_r"),     # upper lip raiser
    12: ("mouth_corner_l", "mouth_corner_r"),  # lip corner puller
    14: ("dimple_l", "dimple_r"),           # dimpler: beside the mouth corners
    15: ("mouth_corner_l", "mouth_corner_r"),  # lip corner depressor: triangularis pulls the corners down
    16: ("lip_bottom", "lip_bottom"),       # lower lip depressor: the lower lip is pulled down (midline)
    17: ("chin_l", "chin_r"),               # chin raiser
    20: ("dimple_l", "dimple_r"),           # lip stretcher: risorius pulls the corners sideways, past the dimples
    23: ("lip_top", "lip_bottom"),          # lip tightener: both red lip parts narrow (midline)
    25: ("lip_top", "lip_bottom"),          # lips part: the two lips separate (midline)
    26: ("lip_bottom", "lip_bottom"),       # jaw drop: the mandible lowers the lower lip (the chin point lies
    #                                         below the FER-style crop, so the lower lip stands for it; midline)
}
"""The two generator landmarks each AU's heatmaps are centred on (``_l`` = image left), for every generated AU."""


def swaps_on_flip(aus=FAU_AUS) -> np.ndarray:
    """(A,) bool: whether an AU's two points are a left/right pair (they swap when the face is mirrored)."""
    return np.array([AU_POINTS[a][0].endswith("_l") and AU_POINTS[a][1].endswith("_r") for a in aus])


def au_points(landmarks, landmark_names=None, aus=FAU_AUS) -> np.ndarray:
    """Generator landmarks (N, K, 2) -> (N, A, 2, 2) heatmap points of ``aus`` (default the five), by
    :data:`AU_POINTS`."""
    if landmark_names is None:
        from facekit.synth import LANDMARK_NAMES as landmark_names
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
    from facekit.synth import render_faces

    batch = render_faces(64, seed=12345, domain="lab", size=size, nuisance=False)
    mean = np.asarray(batch.landmarks, dtype=np.float32).mean(axis=0)
    return mean


def template_landmarks(size: int = 128) -> dict[str, np.ndarray]:
    """Mean landmark positions (x, y) of neutral generated faces at ``size``: the frame real faces are registered to."""
    from facekit.synth import LANDMARK_NAMES

    mean = _template(size)
    return {name: mean[i].copy() for i, name in enumerate(LANDMARK_NAMES)}


def template_points(size: int = 128, aus=FAU_AUS) -> np.ndarray:
    """(A, 2, 2) heatmap points of ``aus`` on the mean generated face, for registered real faces without landmarks."""
    from facekit.synth import LANDMARK_NAMES

    return au_points(_template(size)[None], LANDMARK_NAMES, aus)[0]
