"""Step 2 of the renderer: where every part of the face sits, and how the canonical frame maps to the image.

:func:`face_geometry` turns identity + AUs into feature positions in a *canonical face frame* (upright, centred,
about 1.2 x 1.8 units; ``ua`` = distance from the midline, ``y`` down), e.g. AU12 moves the lip corners up and out.
The pose (roll, yaw-like squash, scale, translation) maps that frame to output pixels: :func:`feature_to_image` for
points (the landmarks), :func:`_pixel_grid` the other way for every pixel.
"""
from __future__ import annotations

import torch

from facekit.synth.facs import AUS, au_index
from facekit.synth.params import _check_features
from facekit.synth.shapes import _c

#: Landmarks returned with every face, ``_l`` = image left. (x, y) in output pixel coordinates.
LANDMARK_NAMES: tuple[str, ...] = (
    "brow_inner_l", "brow_inner_r", "brow_outer_l", "brow_outer_r", "eye_l", "eye_r",
    "eye_top_l", "eye_top_r", "eye_bottom_l", "eye_bottom_r", "nose_tip", "nose_wing_l", "nose_wing_r",
    "cheek_l", "cheek_r", "upper_lip_l", "upper_lip_r", "mouth_corner_l", "mouth_corner_r", "dimple_l", "dimple_r",
    "lip_top", "lip_bottom", "chin_l", "chin_r", "chin", "eye_outer_l", "eye_outer_r", "eye_inner_l", "eye_inner_r",
    "brow_mid_l", "brow_mid_r", "jaw_l", "jaw_r",
)

_YAW_SHIFT = 0.12    # canonical units the features slide sideways per unit of yaw
_YAW_SQUASH = 0.35   # relative compression of the far half of the face per unit of yaw


def face_geometry(ident: dict, au: torch.Tensor, features=None) -> dict[str, torch.Tensor]:
    """Feature positions in the canonical frame (``ua`` = distance from the midline, ``y`` down) for each face."""
    features = _check_features(features)
    a = {k: au[:, au_index(k)] / 5.0 for k in AUS}
    g: dict[str, torch.Tensor] = {}
    g["cy"] = ident["face_cy"]
    g["fw"] = ident["face_w"]
    g["fh"] = ident["face_h"]
    g["fh_low"] = ident.get("lower_h", ident["face_h"]) + 0.1 * a[26]
    g["jaw"] = ident["jaw"]
    # brows: inner and outer ends (ua, y); AU1 lifts the inner end, AU2 the outer, AU4 lowers and draws them together
    brow_y = ident["eye_y"] - ident["brow_y"]
    g["bx_in"] = ident["brow_gap"] - 0.055 * a[4]
    g["bx_out"] = ident["brow_gap"] + ident["brow_len"]
    g["by_in"] = brow_y - ident["brow_slant"] - 0.13 * a[1] + 0.09 * a[4] + 0.03 * a[9] - 0.01 * a[2]
    g["by_out"] = brow_y + ident["brow_slant"] - 0.13 * a[2] + 0.03 * a[4] - 0.015 * a[1]
    g["b_arch"] = ident["brow_arch"] + 0.02 * a[2] - 0.015 * a[4] + 0.01 * a[1]
    # real brows are 3-6 mm of dense hair: about a third of the eye opening's width at 48 px
    g["b_th"] = ident["brow_th"] * 1.3 + 0.014 if "brows" in features else ident["brow_th"]
    # eyes: centre, half width, opening above (top) and below (bottom) the centre line
    g["ex"] = ident["eye_dx"]
    g["ey"] = ident["eye_y"]
    g["ew"] = ident["eye_w"]
    g["et"] = (ident["eye_h"] + 0.055 * a[5] - 0.014 * a[7] - 0.012 * a[4] - 0.008 * a[6] - 0.006 * a[9]).clamp(min=0.004)
    g["eb"] = (0.7 * ident["eye_h"] - 0.02 * a[6] - 0.02 * a[7] + 0.006 * a[5] - 0.004 * a[9]).clamp(min=0.003)
    # nose
    g["ny"] = ident["nose_y"]
    g["nw"] = ident["nose_w"]
    g["nostril_y"] = ident["nose_y"] + 0.025 - 0.04 * a[9] - 0.015 * a[10]
    # cheeks (AU6 lifts them; AU12 a little)
    g["cheek_x"] = ident["eye_dx"] + 0.06
    g["cheek_y"] = ident["nose_y"] - 0.02 - 0.06 * a[6] - 0.02 * a[12]
    g["cheek_amp"] = ident["cheek"] + 0.16 * a[6] + 0.05 * a[12]
    # mouth
    my = ident["mouth_y"]
    g["my"] = my
    g["mw"] = ident["mouth_w"] * (1 + 0.4 * a[12] + 0.42 * a[20] - 0.16 * a[23] - 0.08 * a[14] - 0.05 * a[17])
    g["m_corner_y"] = (my + ident["mouth_curve"] - 0.14 * a[12] - 0.015 * a[14] + 0.1 * a[15] + 0.015 * a[20]
                       - 0.01 * a[10] + 0.02 * a[26])
    g["m_center_y"] = my - 0.03 * a[17] - 0.015 * a[10] + 0.006 * a[15]
    # lips part (AU25) by up to 3 px at 48 px with "lips" (a few mm of teeth at E), 1.7 px without
    opening = (0.08 if "lips" in features else 0.05) * a[25] + 0.2 * a[26]
    g["gap_u"] = 0.3 * opening + 0.035 * a[10] * (a[25] > 0) + 0.015 * a[10]
    g["gap_l"] = 0.7 * opening + 0.035 * a[16]
    thin = (1 - 0.55 * a[23] - 0.3 * a[20]).clamp(min=0.25)
    lips = 1.7 if "lips" in features else 1.0
    g["lip_up"] = ident["lip_up"] * lips * thin + 0.01 * a[10]
    g["lip_lo"] = ident["lip_lo"] * lips * thin + 0.02 * a[17] + 0.008 * a[16]
    g["lip_dark"] = ident["lip_dark"] + 0.15 * a[23]
    # furrows and wrinkles
    age = ident["age"]
    g["naso_amp"] = 0.06 + 0.12 * age + 0.3 * a[12] + 0.28 * a[10] + 0.22 * a[9] + 0.1 * a[6]
    g["naso_top_y"] = ident["nose_y"] - 0.02 - 0.03 * a[10] - 0.02 * a[9]
    g["naso_bot_x"] = ident["mouth_w"] + 0.05 + 0.05 * a[12] + 0.03 * a[20]
    g["naso_bot_y"] = my + 0.07 - 0.03 * a[12]
    g["fh_c_amp"] = 0.12 * age + 0.55 * a[1] + 0.15 * a[2]
    g["fh_l_amp"] = 0.08 * age + 0.55 * a[2]
    g["glab_amp"] = 0.05 * age + 0.6 * a[4] + 0.15 * a[9]
    g["crow_amp"] = 0.1 * age + 0.6 * a[6] + 0.1 * a[7]
    g["under_eye_amp"] = 0.08 + 0.1 * age + 0.35 * a[6] + 0.15 * a[7]
    g["nose_wr_amp"] = 0.55 * a[9]
    g["dimple_amp"] = 0.65 * a[14] + 0.1 * a[12]
    g["marionette_amp"] = 0.06 * age + 0.5 * a[15]
    g["chin_wr_amp"] = 0.6 * a[17]
    g["mentolabial_amp"] = 0.1 + 0.45 * a[17] + 0.1 * a[15]
    g["chin_y"] = g["cy"] + g["fh_low"]
    g["upper_teeth"] = (a[10] + a[12] * 0.6 + a[25] * 0.3).clamp(max=1)
    g["lower_teeth"] = (a[16] + 0.2 * a[20]).clamp(max=1)
    return g


def feature_to_image(ua, y, side, pose: dict, size: int) -> torch.Tensor:
    """Map canonical feature points (ua >= 0 from the midline, side -1 = image left) to output pixels (x, y)."""
    yaw = pose["yaw"]
    u = side * ua / (1 + _YAW_SQUASH * yaw * side)
    x = u + _YAW_SHIFT * yaw
    fs = 1 - 0.25 * yaw.abs()
    cx, cy = x * fs, y
    c, s = torch.cos(pose["roll"]), torch.sin(pose["roll"])
    px = pose["tx"] + pose["scale"] * (c * cx - s * cy)
    py = pose["ty"] + pose["scale"] * (s * cx + c * cy)
    return torch.stack([(px + 1) * size / 2 - 0.5, (py + 1) * size / 2 - 0.5], -1)


def landmarks_from_geometry(g: dict, pose: dict, size: int) -> torch.Tensor:
    """(n, len(LANDMARK_NAMES), 2) pixel coordinates of the named landmarks."""
    zero = torch.zeros_like(g["ex"])
    brow_mid_y = (g["by_in"] + g["by_out"]) / 2 - g["b_arch"]
    chin_y = g["chin_y"]
    pts = {
        "brow_inner": (g["bx_in"], g["by_in"]), "brow_outer": (g["bx_out"], g["by_out"]),
        "eye": (g["ex"], g["ey"]), "eye_top": (g["ex"], g["ey"] - g["et"]), "eye_bottom": (g["ex"], g["ey"] + g["eb"]),
        "nose_wing": (g["nw"], g["nostril_y"]), "cheek": (g["cheek_x"], g["cheek_y"]),
        "upper_lip": (0.55 * g["mw"], g["m_center_y"] - g["gap_u"] * 0.7 - g["lip_up"]),
        "mouth_corner": (g["mw"], g["m_corner_y"]), "dimple": (g["mw"] + 0.03, g["m_corner_y"]),
        "chin": (zero + 0.08, chin_y - 0.13), "eye_outer": (g["ex"] + g["ew"], g["ey"]),
        "eye_inner": (g["ex"] - g["ew"], g["ey"]), "brow_mid": ((g["bx_in"] + g["bx_out"]) / 2, brow_mid_y),
        "jaw": (g["fw"] * (1 - g["jaw"] * 0.3025) * 0.835, g["cy"] + 0.55 * g["fh_low"]),
    }
    out = []
    for name in LANDMARK_NAMES:
        if name == "nose_tip":
            ua, y, side = zero, g["ny"], 1.0
        elif name == "lip_top":
            ua, y, side = zero, g["m_center_y"] - g["gap_u"] - g["lip_up"], 1.0
        elif name == "lip_bottom":
            ua, y, side = zero, g["m_center_y"] + g["gap_l"] + g["lip_lo"], 1.0
        elif name == "chin":
            ua, y, side = zero, chin_y - 0.01, 1.0
        else:
            base, lr = name.rsplit("_", 1)
            ua, y = pts[base]
            side = -1.0 if lr == "l" else 1.0
        out.append(feature_to_image(ua, y, side, pose, size))
    return torch.stack(out, 1).float()


def _pixel_grid(pose: dict, size: int, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Canonical (X, Y) of every output pixel centre, and the canonical size of one pixel (n,1,1)."""
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    py, px = coords.view(1, size, 1), coords.view(1, 1, size)
    dx, dy = px - _c(pose["tx"]), py - _c(pose["ty"])
    c, s = _c(torch.cos(pose["roll"])), _c(torch.sin(pose["roll"]))
    sc = _c(pose["scale"])
    qx = (c * dx + s * dy) / sc
    qy = (-s * dx + c * dy) / sc
    fs = _c(1 - 0.25 * pose["yaw"].abs())
    aa = 2.0 / (size * sc)
    return qx / fs, qy, aa


def _feature_x(X: torch.Tensor, yaw: torch.Tensor) -> torch.Tensor:
    """Distance from the facial midline, undoing the yaw shift and the squash of the far half."""
    u = X - _YAW_SHIFT * _c(yaw)
    return u.abs() * (1 + _YAW_SQUASH * _c(yaw) * torch.sign(u))


def _canonical_grid(pose: dict, size: int, n: int):
    X, Y, aa = _pixel_grid(pose, size, n)
    u = X - _YAW_SHIFT * _c(pose["yaw"])
    uf = u * (1 + _YAW_SQUASH * _c(pose["yaw"]) * torch.sign(u))
    return uf, Y
