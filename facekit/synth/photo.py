"""Real faces as identity textures: the opt-in ``"photo"`` appearance feature.

A drawn face is a cartoon to a model trained on real faces, whatever its shading. With ``"photo"`` the skin, eyes,
brows, nose, hair and lighting of a face come from a *real* photograph, and the expression still comes only from
the Action Units:

* **Identities.** scikit-image ships ``skimage.data.lfw_subset()``: 100 real, aligned 25x25 face crops from Labeled
  Faces in the Wild. :data:`NEUTRAL_LFW` lists the 45 whose face shows no expression of its own (mouth closed, no
  smile, no frown; coded by eye from the crops, the way a FACS coder marks a neutral frame), so the only expression a
  rendered face shows is the one its AUs cause. Each identity can be mirrored: 90 textures.
* **Alignment.** The crops are aligned by the LFW face detector, so one template (:data:`_PHOTO_TEMPLATE`, read off the
  mean of the 45 crops: eye centres, mouth line, brows, nostrils) places every crop's features; a photo face's
  geometry (:func:`photo_identity`) puts the generator's features on that template, so landmarks, AU points and AU
  region masks sit on the photo's features to within the detector's alignment (about a pixel of the 25 px crop).
* **Expression as motion.** :func:`expression_warp` moves the photo's features as the AUs move the generator's
  geometry: brows (AU1, 2, 4, 9), lids (AU5, 6, 7), cheeks (AU6, 12), nose wings (AU9, 10), the lip line from its
  corners through its middle to its centre (AU12, 14, 15, 20, 23), the lips apart (AU25, 26, 10, 16) and the chin
  (AU17, 26). Each control point drags the skin around it with a smooth bump of compact support, so an AU changes
  pixels only inside its region; the motion is taken in small steps with bumps stretched along it, so the skin is
  stretched between a feature's old and new place and never folded over itself (pulled in one jump with a bump
  smaller than the motion, a smile's corner would tear away from the lip and the photo would fold).
* **Expression as appearance.** The generator's AU-driven marks (forehead lines, glabella furrows, crow's feet,
  nasolabial folds, nose wrinkles, dimples, chin boss) darken or lighten the photo, and an open mouth shows a dark
  interior with teeth (the generator's mouth layers); identity-only marks (nostrils, lid creases, age lines, beards)
  are the photo's own.

The crops hold 25 px of detail: right for the 48x48 FER format, blurred at Task 2's 128 px. The feature is opt-in
(:data:`facekit.synth.render.OPTIONAL_FEATURES`); the realism report measures what it changes for the judge.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

#: Bumped whenever photo faces' pixels change (cached photo twins carry it; the default faces follow
#: :data:`facekit.synth.render.GENERATOR_VERSION` alone).
PHOTO_VERSION: int = 2

#: LFW crops (indices into ``skimage.data.lfw_subset()[:100]``) with a neutral face: mouth closed, no smile, no
#: frown, no hand or hair over the face. Coded by eye from the 25x25 crops (2026-12-04); the other 55 smile, talk,
#: laugh or are occluded, and would carry an expression the AU labels do not name.
NEUTRAL_LFW: tuple[int, ...] = (
    3, 4, 5, 6, 7, 8, 9, 12, 15, 17, 20, 25, 26, 28, 32, 35, 40, 42, 44, 49, 54, 55, 56, 57, 58, 60, 62, 63, 65, 66,
    67, 68, 70, 72, 73, 76, 78, 80, 83, 86, 87, 90, 92, 95, 98,
)

#: LFW crops that smile (lip corners up, most with teeth), coded by eye with :data:`NEUTRAL_LFW`. Never used as
#: identities: with the neutral crops they are a small real test of "smiling or not" for any 48x48 emotion model
#: (:func:`facekit.emotion.realism.real_smile_check`). The other 19 crops talk, shout, are occluded or are unclear.
SMILING_LFW: tuple[int, ...] = (
    1, 10, 11, 13, 18, 19, 21, 22, 23, 27, 31, 36, 37, 38, 41, 43, 45, 47, 50, 52, 53, 61, 64, 69, 74, 75, 79, 81,
    84, 85, 88, 91, 93, 94, 96, 99,
)

#: Where the features of the aligned LFW crops sit, in grid_sample coordinates of the crop ([-1, 1], x right, y down),
#: read off the mean of the :data:`NEUTRAL_LFW` crops (pixel centres: eyes at columns 6 and 15 of row 8, the midline
#: at column 10.5, the mouth line at row 18, brows at row 6.5, nostrils at row 14).
_PHOTO_TEMPLATE: dict[str, float] = {
    "mid_x": -0.12, "eye_dx": 0.36, "eye_y": -0.32, "mouth_y": 0.48,
}

#: The generator geometry a photo face gets (canonical units, see :func:`facekit.synth.render.face_geometry`): the
#: template above in the generator's frame (eyes 0.26 from the midline at y -0.12, mouth line at 0.40), with the
#: brows, nose, mouth width, eye size and chin where the template's are.
_PHOTO_GEOMETRY: dict[str, float] = {
    "eye_dx": 0.26, "eye_y": -0.12, "mouth_y": 0.40, "eye_w": 0.09, "eye_h": 0.04, "brow_y": 0.1, "brow_gap": 0.1,
    "brow_len": 0.22, "brow_arch": 0.02, "brow_slant": 0.0, "nose_y": 0.17, "nose_w": 0.09, "mouth_w": 0.18,
    "mouth_curve": 0.0, "face_w": 0.62, "jaw": 0.3, "face_cy": 0.06, "chin_h": 0.66,
}

@functools.lru_cache(maxsize=1)
def photo_bank() -> torch.Tensor:
    """(len(NEUTRAL_LFW), 1, 25, 25) float32 crops in 0-1 (scikit-image's LFW subset, shipped with the package)."""
    try:  # lazy: only the opt-in photo feature needs scikit-image; without it the drawn faces still render
        from skimage import data as skdata
    except ImportError as exc:  # pragma: no cover - scikit-image is a dependency
        raise RuntimeError("The 'photo' generator feature needs scikit-image (pip install scikit-image), which ships "
                           "the LFW face crops it uses as identities.") from exc
    crops = skdata.lfw_subset()[:100]
    return torch.as_tensor(crops[list(NEUTRAL_LFW)], dtype=torch.float32).unsqueeze(1).contiguous()


def photo_identity(ident: dict) -> None:
    """Put a face's geometry on the photo template, in place (identity parameters that place features)."""
    n = len(ident["face_w"])
    for key, value in _PHOTO_GEOMETRY.items():
        ident[key] = torch.full((n,), value)
    ident["lower_h"] = ident["chin_h"]
    # which photo and whether it is mirrored: a fixed function of the identity's own uniforms (the hue, which a gray
    # photo face does not use, and the age, which only drew age lines), so a shared identity_seed shares the photo
    k = len(NEUTRAL_LFW)
    pick = torch.frac(ident["hue"] * 97.0 + ident["age"] * 13.0)
    ident["photo"] = (pick * 2 * k).long().clamp(0, 2 * k - 1).float()


def _control_points(g: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, K, 2) control points (ua >= 0, y) of the face in geometry ``g``, in the order of :data:`_RADII`."""
    brow_mid_x = (g["bx_in"] + g["bx_out"]) / 2
    brow_mid_y = (g["by_in"] + g["by_out"]) / 2 - g["b_arch"]
    zero = torch.zeros_like(g["ex"])
    # the lips halfway to the corner, on the generator's lip curve (facekit.synth.texture._mouth_shapes): the lip
    # line sits a quarter of the way from the centre to the corner height there, and the inner lips part by 3/4 of
    # the gap
    mid_y = 0.25 * g["m_corner_y"] + 0.75 * g["m_center_y"]
    pts = [
        (g["bx_in"], g["by_in"]), (g["bx_out"], g["by_out"]), (brow_mid_x, brow_mid_y),
        (g["ex"], g["ey"] - g["et"]), (g["ex"], g["ey"] + g["eb"]),
        (g["cheek_x"], g["cheek_y"]), (g["nw"] * 0.6, g["nostril_y"]),
        (g["mw"], g["m_corner_y"]),
        (zero, g["m_center_y"] - g["gap_u"]), (zero, g["m_center_y"] + g["gap_l"]),
        (zero, g["chin_y"] - 0.13),
        (0.5 * g["mw"], mid_y - 0.75 * g["gap_u"]), (0.5 * g["mw"], mid_y + 0.75 * g["gap_l"]),
    ]
    return torch.stack([torch.stack(p, -1) for p in pts], 1)


#: Bump half-extents (ua, y) of the control points above, canonical units: about the size of the feature each moves
#: (a lid, a cheek apple, a nose wing, the chin). A brow's three points and the lip's centre, middle and corner sit
#: about one half-extent apart along the feature, so their bumps add up to one there and the feature moves as a whole.
_RADII = torch.tensor([
    [0.11, 0.06], [0.11, 0.06], [0.11, 0.06],
    [0.11, 0.045], [0.11, 0.04],
    [0.12, 0.1], [0.06, 0.05],
    [0.1, 0.07],
    [0.1, 0.05], [0.1, 0.07],
    [0.2, 0.12],
    [0.1, 0.05], [0.1, 0.07],
])

#: How far a bump reaches along its point's whole motion, in multiples of it. One step of the warp, ``p + w(p) m``,
#: has Jacobian determinant ``1 + m . grad w``; the bump's profile (:func:`_profile`) falls by at most 1.5 per
#: radius, so with the motion split into :data:`_STEPS` steps each step's determinant stays above
#: ``1 - 1.5 / (_STEPS * _REACH)`` = 0.75 (one bump): the photo is stretched, never folded over itself.
_REACH = 1.5

#: A control point moving less than this (canonical units, a quarter pixel at 48 px) over the whole expression
#: pulls with a share of its weight that grows with its motion.
_STILL = 0.01


#: The warp is taken in this many equal steps along the control points' straight paths: each step is a small,
#: fold-free displacement, and a composition of fold-free maps is fold-free (the skin flows from the neutral face
#: to the expression instead of being pulled in one jump, which tears where a large motion meets a still neighbour).
_STEPS = 4


def _profile(r: torch.Tensor) -> torch.Tensor:
    """A bump's weight at normalised distance ``r`` from its centre: 1 at 0, 0 from 1 on, smooth (zero slope at both
    ends), steepest (1.5) halfway."""
    t = (1 - r).clamp(0, 1)
    return t * t * (3 - 2 * t)


def _step_back(start: torch.Tensor, end: torch.Tensor, whole: torch.Tensor, ua: torch.Tensor, y: torch.Tensor):
    """One step of the warp: output points (``ua``, ``y``) near control points ``end`` (n, K, 2) moved to where the
    texture is near ``start``. Each point drags the texture around it with a smooth bump, exactly 0 outside an
    ellipse: across the motion the size of the feature (:data:`_RADII`, so a lip corner does not drag the lip's
    middle), along it at least :data:`_REACH` times the point's ``whole`` motion (n, K) over the expression."""
    move = start - end                                                      # (n, K, 2)
    length = move.norm(dim=-1)
    still = (length < 1e-9).unsqueeze(-1)
    d = torch.where(still, torch.tensor([0.0, 1.0]), move / length.clamp(min=1e-9).unsqueeze(-1))  # unit motion
    rx, ry = _RADII[:, 0], _RADII[:, 1]
    # the feature ellipse's radius along the motion and across it, then stretched along it to the reach
    along = torch.maximum(((d[..., 0] / rx) ** 2 + (d[..., 1] / ry) ** 2).rsqrt(), _REACH * whole)
    across = ((d[..., 1] / rx) ** 2 + (d[..., 0] / ry) ** 2).rsqrt()
    # a point that barely moves (under _STILL) pulls with its motion's share, so weights change smoothly with the AUs
    gate = (whole / _STILL).clamp(max=1)
    ua, y = torch.broadcast_tensors(ua, y)
    dx = torch.zeros(ua.shape)
    dy = torch.zeros(ua.shape)
    total = torch.zeros(ua.shape)
    # a bump is exactly 0 outside its ellipse: on an (n, H, W) grid only the rows where some face's ellipse can reach
    # are computed (the same numbers; photo faces rendered 1.6-1.9x faster on 2 cores)
    rows = y.ndim == 3 and y.shape[0] == len(end)
    if rows:
        row_lo, row_hi = y.amin(dim=(0, 2)), y.amax(dim=(0, 2))
        half_h = ((along * d[..., 1]) ** 2 + (across * d[..., 0]) ** 2).sqrt()          # ellipse's half height
    for k in torch.nonzero((gate > 0).any(0)).flatten().tolist():          # points that move in some face
        sl = slice(None)
        if rows:
            moving = gate[:, k] > 0
            lo = float((end[moving, k, 1] - half_h[moving, k]).min())
            hi = float((end[moving, k, 1] + half_h[moving, k]).max())
            hit = torch.nonzero((row_hi >= lo) & (row_lo <= hi)).flatten()
            if not len(hit):
                continue
            sl = slice(int(hit[0]), int(hit[-1]) + 1)
        view = lambda v: v[:, k].view(-1, 1, 1)  # noqa: E731
        pu, py = ua[..., sl, :] - view(end[..., 0]), y[..., sl, :] - view(end[..., 1])
        du, dv = view(d[..., 0]), view(d[..., 1])
        t = (pu * du + py * dv) / view(along)
        s = (py * du - pu * dv) / view(across)
        w = _profile(torch.sqrt(t * t + s * s)) * view(gate)
        dx[..., sl, :] += w * view(move[..., 0])
        dy[..., sl, :] += w * view(move[..., 1])
        total[..., sl, :] += w
    # where bumps overlap their motions are averaged, not added: neighbours a radius apart (a brow's three points,
    # the lip's centre, middle and corner) blend into one smooth motion of the whole feature
    norm = total.clamp(min=1)
    return ua + dx / norm, y + dy / norm


def expression_warp(g0: dict, g: dict, ua: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Backward warp of the expression: for output points (ua >= 0, y) of the expressive face ``g``, the point of the
    neutral face ``g0`` (same identity, no AUs) whose texture lands there. ``ua``, ``y``: (n, H, W) or broadcastable.
    The control points walk from their neutral to their expressive places in :data:`_STEPS` steps; the warp undoes
    the steps one by one (:func:`_step_back`), so the photo is stretched between a feature's old and new place, never
    folded over itself, and a pixel changes only where some moving feature's bump passes."""
    e, n0 = _control_points(g), _control_points(g0)
    whole = (e - n0).norm(dim=-1)
    for i in range(_STEPS, 0, -1):
        end = n0 + (e - n0) * (i / _STEPS)
        start = n0 + (e - n0) * ((i - 1) / _STEPS)
        ua, y = _step_back(start, end, whole, ua, y)
    return ua, y


def sample_photos(ident: dict, g0: dict, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(n, 1, H, W) photo values at the neutral face's canonical points (``x`` signed from the midline, ``y``)."""
    bank = photo_bank()
    k = len(bank)
    idx = ident["photo"].long()
    flip = torch.where(idx >= k, -1.0, 1.0).view(-1, 1, 1)
    t = _PHOTO_TEMPLATE
    sx = (t["eye_dx"] / g0["ex"]).view(-1, 1, 1)
    sy = ((t["mouth_y"] - t["eye_y"]) / (g0["my"] - g0["ey"])).view(-1, 1, 1)
    px = t["mid_x"] + flip * x * sx
    py = t["eye_y"] + (y - g0["ey"].view(-1, 1, 1)) * sy
    grid = torch.stack([px, py], -1)
    return F.grid_sample(bank[idx % k], grid, mode="bilinear", padding_mode="reflection", align_corners=False)
