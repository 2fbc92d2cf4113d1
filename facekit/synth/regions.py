"""The image region each Action Unit moves, as boolean masks in output pixels.

Each AU's region is a union of boxes in the face's own frame (distance from the midline ``ua``, height ``y``), built
around where that face's features sit (so they follow identity, pose and the other AUs), wide enough to hold
everything the AU can change up to intensity 5: its features' motion and the wrinkles and furrows it deepens.
These are the ground-truth "where should an explanation look" maps of Task 2.
"""
from __future__ import annotations

import torch

from facekit.synth.facs import AUS, au_index
from facekit.synth.geometry import _feature_x, _pixel_grid
from facekit.data.faceset import FaceSet
from facekit.synth.shapes import _c

AU_LANDMARKS: dict[int, tuple[str, str]] = {
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
"""Where each generated AU acts, as two generator landmarks (``_l`` = image left): the points Task 2's heatmaps
sit on (:data:`facekit.fau.points.AU_POINTS` is this table) and the points the realism report checks are in frame."""


def _boxes(g: dict) -> dict[int, list[tuple]]:
    """Per AU, a list of (ua_lo, ua_hi, y_lo, y_hi) boxes (each an (n,) tensor or float), in the canonical frame."""
    brow_top = torch.minimum(g["by_in"], g["by_out"]) - 0.26
    ey, ex, ew = g["ey"], g["ex"], g["ew"]
    eye_lo, eye_hi = ey - 0.15, ey + 0.09
    eye_box = (ex - ew - 0.05, ex + ew + 0.05, eye_lo, eye_hi)
    brow_box_y = (brow_top, ey - 0.005)
    mw_max = g["mw"] * 1.9 + 0.1
    my = g["my"]
    mouth = (0.0, mw_max, my - 0.16, my + 0.2)
    naso = (g["nw"] * 0.5, g["naso_bot_x"] + 0.1, g["ny"] - 0.12, my + 0.16)
    chin = (0.0, 0.2, my - 0.02, g["chin_y"] + 0.08)
    nose = (0.0, g["nw"] + 0.09, ey - 0.04, g["ny"] + 0.08)
    cheek = (g["cheek_x"] - 0.16, g["cheek_x"] + 0.16, g["cheek_y"] - 0.13, g["cheek_y"] + 0.17)
    crow = (ex, ex + ew + 0.14, ey - 0.09, ey + 0.09)
    glabella = (0.0, g["bx_in"] + 0.06, brow_top, ey + 0.02)
    return {
        1: [(0.0, g["bx_out"] + 0.08, *brow_box_y)],
        2: [(0.0, g["bx_out"] + 0.1, *brow_box_y)],
        4: [(0.0, g["bx_out"] + 0.1, brow_top, eye_hi), glabella, eye_box],
        5: [eye_box],
        6: [eye_box, cheek, crow, naso],
        7: [eye_box, crow],
        9: [nose, glabella, (0.0, g["bx_out"] + 0.08, *brow_box_y), eye_box, naso, mouth],
        10: [nose, naso, mouth],
        12: [mouth, naso, cheek, (0.0, mw_max + 0.06, my - 0.1, my + 0.12)],
        14: [mouth, naso],
        15: [mouth, chin],
        16: [mouth, chin],
        17: [mouth, chin],
        20: [mouth, naso, chin],
        23: [mouth, chin],
        25: [mouth],
        26: [mouth, chin, (0.0, g["fw"] * 1.25 + 0.1, g["cy"] - 0.03, g["chin_y"] + 0.45)],
    }


def au_region_masks(batch: FaceSet, aus=None, margin_px: float = 1.5) -> torch.Tensor:
    """Boolean masks (n, len(aus), H, W): the output pixels each AU can move in each face of ``batch``.

    ``aus`` defaults to :data:`facekit.synth.AUS`. The masks are computed from the geometry the batch was rendered
    with, so they stay valid for occluded or posed faces (an occluded region is still where the AU acts).
    """
    if not batch.extra.get("geometry"):
        raise ValueError("This face set carries no geometry (was it sliced or loaded from disk?); "
                         "render it with facekit.synth.render_faces to get AU region masks.")
    aus = AUS if aus is None else tuple(int(a) for a in aus)
    for a in aus:
        au_index(a)
    g = batch.extra["geometry"]
    pose = {k: g[k] for k in ("roll", "yaw", "scale", "tx", "ty")}
    size = batch.image_size
    X, Y, aa = _pixel_grid(pose, size, len(batch))
    U = _feature_x(X, pose["yaw"])
    m = aa * margin_px
    boxes = _boxes(g)
    out = torch.zeros(len(batch), len(aus), size, size, dtype=torch.bool)
    for j, a in enumerate(aus):
        for ulo, uhi, ylo, yhi in boxes[a]:
            as_t = lambda v: _c(torch.as_tensor(v).expand(len(batch)).float())  # noqa: E731
            inside = (U >= as_t(ulo) - m) & (U <= as_t(uhi) + m) & (Y >= as_t(ylo) - m) & (Y <= as_t(yhi) + m)
            out[:, j] |= inside
    return out
