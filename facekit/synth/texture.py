"""Step 3 of the renderer: the face drawn as a half texture in the canonical frame, one painter per region.

The texture holds half the face (``ua >= 0``; mirrored in the image). Every part (brows, eyes, nose, lips, furrows,
wrinkles, cheeks, chin, hair, glasses, beard) is an analytic shape with a soft edge one texel wide (smoothstep on a
signed distance: anti-aliased). Each region's painter works only inside a static window of :data:`_WINDOWS` that
holds the region for every identity and intensity, which keeps the work small; every effect has compact support, so
an AU changes pixels only inside its region (:mod:`facekit.synth.regions`).

Drawing order (:func:`_texture`): the head (hair behind, neck, skin), the relief (``"surface"``), the marks of every
region (lines, furrows, wrinkles, shading: layers of darkening and lightening) applied to the skin, then the features
painted over it: lips, brows, eyes, hair in front, glasses. A photo face (``"photo"``) takes only the AU-driven marks
and the open mouth from here (:func:`_photo_layers`).
"""
from __future__ import annotations

import math

import torch

from facekit.synth.params import _check_features
from facekit.synth.shapes import _band, _bump, _c, _cover, _ellipse_d, _lerp, _per_face, _ss

_TEX_X = 1.0               # the half texture spans ua in [0, _TEX_X] ...
_TEX_Y = (-1.15, 1.35)     # ... and y in this range (canonical units)

# Static windows (canonical ua0, ua1, y0, y1) that hold each group of features for every identity and AU intensity.
_WINDOWS = {
    "forehead": (0.0, 0.68, -0.78, -0.02), "eyes": (0.04, 0.58, -0.34, 0.06), "nose": (0.0, 0.26, -0.2, 0.32),
    "cheek": (0.12, 0.58, -0.2, 0.4), "naso": (0.04, 0.5, 0.02, 0.66), "mouth": (0.0, 0.58, 0.14, 0.92),
    "chin": (0.0, 0.24, 0.36, 1.22), "lower": (0.0, 0.8, 0.1, 1.25),
}


class _Canvas:
    """The half face texture (ua >= 0) at ``density`` texture pixels per canonical unit, and its windows."""

    def __init__(self, size: int, soft: bool = False):
        self.d = 0.75 * size
        self.w = int(math.ceil(_TEX_X * self.d))
        self.h = int(math.ceil((_TEX_Y[1] - _TEX_Y[0]) * self.d))
        self.u = (torch.arange(self.w, dtype=torch.float32) + 0.5) / self.d
        self.y = _TEX_Y[0] + (torch.arange(self.h, dtype=torch.float32) + 0.5) / self.d
        self.aa = torch.tensor((2.0 if soft else 1.0) / self.d)

    def window(self, name: str):
        u0, u1, y0, y1 = _WINDOWS[name]
        c0, c1 = max(0, int(u0 * self.d)), min(self.w, int(math.ceil(u1 * self.d)))
        r0 = max(0, int((y0 - _TEX_Y[0]) * self.d))
        r1 = min(self.h, int(math.ceil((y1 - _TEX_Y[0]) * self.d)))
        sl = (slice(r0, r1), slice(c0, c1))
        return sl, self.u[c0:c1].view(1, 1, -1), self.y[r0:r1].view(1, -1, 1)


def _texture(ident: dict, g: dict, col: dict, size: int, color: bool, features=None) -> torch.Tensor:
    """The face as a half texture in the canonical frame: (n, C + 2, h, w) color, coverage and surface height
    (canonical units; zero without the ``"surface"`` feature), mirrored later.

    With ``"photo"`` the face is a photograph and this draws only what the AUs add to it: (n, 4, h, w) layers of
    darkening and lightening (the AU-driven marks; ``g`` then holds the AU-driven part of every mark's amplitude),
    the open mouth's interior and its teeth (:func:`_photo_layers`)."""
    features = _check_features(features)
    cv = _Canvas(size, soft="soft" in features)
    if "photo" in features:
        return _photo_layers(ident, g, cv)
    n = len(g["ex"])
    face, narrow, half_h = _face_cover(cv, g)
    img, alpha = _paint_head(cv, g, ident, col, face)
    darken = torch.zeros(n, cv.h, cv.w)
    brighten = torch.zeros(n, cv.h, cv.w)
    height = torch.zeros(n, cv.h, cv.w)
    if "surface" in features:
        _surface(height, cv, g, ident, narrow, half_h)
    if "eyes" in features:
        _eye_sockets(darken, cv, g)
    for paint in _MARK_PAINTERS.values():
        paint(darken, brighten, cv, g, ident, photo=False)
    # apply the marks to the skin
    img = img * (1 - (darken.clamp(0, 0.9) * face).unsqueeze(1)) + (brighten * face).unsqueeze(1) * 0.5 * (1 - img)
    img = _paint_lips(img, face, cv, g, col)
    img = _paint_brows(img, face, cv, g, ident, col)
    img = _paint_eyes(img, cv, g, ident, col, features)
    img = _paint_hair(img, face, cv, g, ident, col)
    img = _paint_glasses(img, cv, g, ident, col)
    return torch.cat([img, alpha.unsqueeze(1), (height * face).unsqueeze(1)], 1)


def _photo_layers(ident: dict, g: dict, cv: _Canvas) -> torch.Tensor:
    """The painter of a photo face: (n, 4, h, w) darkening, lightening, open mouth and teeth over the photograph.

    Only the AU-driven marks (the photo has its own nostrils, lid creases, relief and beard) and the mouth opening,
    with the incisors' crowns at their real height."""
    n = len(g["ex"])
    face, _, _ = _face_cover(cv, g)
    darken = torch.zeros(n, cv.h, cv.w)
    brighten = torch.zeros(n, cv.h, cv.w)
    for paint in _MARK_PAINTERS.values():
        paint(darken, brighten, cv, g, ident, photo=True)
    sl, shapes = _mouth_shapes(cv, g, photo=True)
    f_w = face[:, sl[0], sl[1]]
    mouth = torch.zeros(n, 2, cv.h, cv.w)
    mouth[:, 0, sl[0], sl[1]] = shapes["inner"] * f_w
    mouth[:, 1, sl[0], sl[1]] = shapes["teeth"] * f_w
    return torch.cat([torch.stack([darken.clamp(0, 0.9) * face, brighten * face], 1), mouth], 1)


# ---------------------------------------------------------------------------------------------------------------
# The head: face outline, hair behind it, neck and the skin's roundness (the whole canvas)

def _face_cover(cv: _Canvas, g: dict):
    """Coverage (n, h, w) of the face oval, with the jaw's narrowing and the half heights it was drawn with."""
    P = _per_face(g)
    U, Y = cv.u.view(1, 1, -1), cv.y.view(1, -1, 1)
    cy, fw, fh = P("cy"), P("fw"), P("fh")
    yl = Y - cy
    half_h = torch.where(yl > 0, P("fh_low"), fh)
    narrow = 1 - P("jaw") * (yl.clamp(min=0) / fh).clamp(max=1) ** 2
    face = _cover(_ellipse_d(U, yl, 0.0, 0.0, fw * narrow, half_h), cv.aa)
    return face, narrow, half_h


def _paint_head(cv: _Canvas, g: dict, ident: dict, col: dict, face: torch.Tensor):
    """Hair behind the head (and long hair down to the shoulders), neck, face: the colors and their coverage."""
    P, I = _per_face(g), _per_face(ident)
    aa = cv.aa
    U, Y = cv.u.view(1, 1, -1), cv.y.view(1, -1, 1)
    cy, fw, fh = P("cy"), P("fw"), P("fh")
    yl = Y - cy
    hair_back = _cover(_ellipse_d(U, Y, 0.0, cy - 0.06, fw * 1.17, fh * 1.06), aa)
    long_hair = I("long_hair") * _cover(U - fw * 1.18, aa) * _cover(-yl, aa)
    hair_a = torch.maximum(hair_back, long_hair)
    neck = _cover(U - fw * 0.55, aa) * _cover(cy + 0.4 - Y, aa)
    alpha = torch.maximum(torch.maximum(hair_a, neck), face)
    img = col["hair"] * hair_a.unsqueeze(1)
    img = _lerp(img, col["skin"] * 0.8, neck)
    # soft roundness of the face (lighting direction is applied later, in the image)
    nx, ny = U / fw, (yl / fh).clamp(-1, 1)
    img = _lerp(img, col["skin"] * (1 - 0.22 * ((nx**2 + ny**2).clamp(max=1)) ** 2).unsqueeze(1), face)
    return img, alpha


# ---------------------------------------------------------------------------------------------------------------
# Marks: each region's lines, furrows, wrinkles and shading, added to the darkening and lightening layers inside the
# region's window. A photo face has its own identity marks; it takes only the AU-driven ones (``photo=True``).

def _eye_sockets(darken: torch.Tensor, cv: _Canvas, g: dict) -> None:
    """The eye sockets sit deeper than brow and cheek and catch less light (the ``"eyes"`` feature)."""
    P = _per_face(g)
    sl, U, Y = cv.window("eyes")
    darken[:, sl[0], sl[1]] += 0.2 * _bump(U, Y, P("ex"), P("ey") - 0.01, P("ew") * 1.55, 0.085)


def _forehead_marks(darken, brighten, cv: _Canvas, g: dict, ident: dict, photo: bool) -> None:
    """Forehead lines (AU1 centre, AU2 sides) and glabella furrows (AU4)."""
    P, aa = _per_face(g), cv.aa
    sl, U, Y = cv.window("forehead")
    by_in, by_out = P("by_in"), P("by_out")
    y0 = torch.minimum(by_in, by_out) - 0.1
    lines = _ss(0.5 + 0.7 * torch.cos((Y - y0) * (2 * math.pi / 0.075)))
    win_c = _bump(U, Y, 0.0, y0, 0.16, 0.07)
    win_l = _bump(U, Y, P("bx_out") - 0.06, y0 + 0.01, 0.12, 0.06)
    glab = _band(U - 0.035, 0.009, aa) * _bump(U, Y, 0.0, by_in + 0.01, 0.09, 0.07)
    darken[:, sl[0], sl[1]] += lines * (win_c * P("fh_c_amp") + win_l * P("fh_l_amp")) * 0.45 + glab * P("glab_amp") * 0.6


def _cheek_marks(darken, brighten, cv: _Canvas, g: dict, ident: dict, photo: bool) -> None:
    """Cheeks: a raised, lit apple of the cheek."""
    P = _per_face(g)
    sl, U, Y = cv.window("cheek")
    brighten[:, sl[0], sl[1]] += _bump(U, Y, P("cheek_x"), P("cheek_y"), 0.13, 0.085) * P("cheek_amp")


def _nose_marks(darken, brighten, cv: _Canvas, g: dict, ident: dict, photo: bool) -> None:
    """Nose: side shading, tip highlight, nostrils, wings, wrinkles across the bridge (AU9)."""
    P, aa = _per_face(g), cv.aa
    sl, U, Y = cv.window("nose")
    ny_, ey = P("ny"), P("ey")
    side = _band(U - P("nw") * 0.75, 0.012, aa * 2) * _bump(U, Y, 0.0, (ey + ny_) / 2, 0.3, (ny_ - ey) * 0.55)
    nostril = _cover(_ellipse_d(U, Y, P("nw") * 0.5, P("nostril_y"), 0.03, 0.013), aa)
    wing = _band(_ellipse_d(U, Y, P("nw") * 0.62, P("nostril_y") - 0.012, P("nw") * 0.45, 0.03), 0.006, aa) \
        * (Y > P("nostril_y") - 0.03)
    nose_wr = _ss(0.5 + 0.75 * torch.cos((Y - ey) * (2 * math.pi / 0.045))) * _bump(U, Y, 0.0, ey + 0.07, 0.075, 0.05)
    if photo:  # a photo has its own nostrils, wings and highlights
        darken[:, sl[0], sl[1]] += nose_wr * P("nose_wr_amp") * 0.6
    else:
        darken[:, sl[0], sl[1]] += side * 0.12 + nostril * 0.55 + wing * 0.25 + nose_wr * P("nose_wr_amp") * 0.6
        brighten[:, sl[0], sl[1]] += 0.1 * _bump(U, Y, 0.0, ny_ - 0.01, 0.045, 0.035)


def _naso_marks(darken, brighten, cv: _Canvas, g: dict, ident: dict, photo: bool) -> None:
    """Nasolabial furrows: from the nose wing to beyond the mouth corner."""
    P, aa = _per_face(g), cv.aa
    sl, U, Y = cv.window("naso")
    top_x, top_y, bot_x, bot_y = P("nw") * 0.95, P("naso_top_y"), P("naso_bot_x"), P("naso_bot_y")
    t = (Y - top_y) / (bot_y - top_y)
    xf = top_x + (bot_x - top_x) * t + 0.035 * torch.sin(math.pi * t.clamp(0, 1))
    naso = _band(U - xf, 0.007 + 0.004 * t.clamp(0, 1), aa) * _ss(t * 8) * _ss((1 - t) * 5)
    darken[:, sl[0], sl[1]] += naso * (P("naso_amp") * 0.55).clamp(max=0.6)


def _eye_marks(darken, brighten, cv: _Canvas, g: dict, ident: dict, photo: bool) -> None:
    """Eye surroundings: under-eye furrow (AU6/AU7), crow's feet (AU6), lid crease."""
    P, aa = _per_face(g), cv.aa
    sl, U, Y = cv.window("eyes")
    ex, ey, ew, et, eb = P("ex"), P("ey"), P("ew"), P("et"), P("eb")
    under = _band(Y - (ey + eb + 0.03), 0.006, aa) * _bump(U, Y, ex, ey + eb + 0.03, ew * 1.1, 0.05)
    dxo = (U - ex - ew).clamp(min=0.005)
    crow = _ss(0.5 + 0.8 * torch.cos(torch.atan2(Y - ey, dxo) * 9)) * _bump(U, Y, ex + ew + 0.045, ey, 0.05, 0.045)
    crease = _band(_ellipse_d(U, Y, ex, ey, ew * 1.05, et + 0.028), 0.004, aa) * (Y < ey - 0.01)
    if photo:  # a photo has its own lid creases
        darken[:, sl[0], sl[1]] += under * P("under_eye_amp") * 0.5 + crow * P("crow_amp") * 0.5
    else:
        darken[:, sl[0], sl[1]] += under * P("under_eye_amp") * 0.5 + crow * P("crow_amp") * 0.5 + crease * 0.25


def _mouth_marks(darken, brighten, cv: _Canvas, g: dict, ident: dict, photo: bool) -> None:
    """Around the mouth: dimples (AU14), marionette lines (AU15), the mentolabial furrow."""
    P, aa = _per_face(g), cv.aa
    sl, U, Y = cv.window("mouth")
    mw, mcy = P("mw"), P("m_corner_y")
    dimple = _cover(_ellipse_d(U, Y, mw + 0.032, mcy + 0.005, 0.011, 0.02), aa)
    mar_t = (Y - mcy) / 0.1
    mar = _band(U - (mw + 0.012 + 0.25 * (Y - mcy)), 0.006, aa) * _ss(mar_t * 6) * _ss((1 - mar_t) * 4)
    ment_y = P("m_center_y") + P("gap_l") + P("lip_lo") + 0.035
    ment = _band(Y - ment_y, 0.008, aa) * _bump(U, Y, 0.0, ment_y, 0.1, 0.03)
    darken[:, sl[0], sl[1]] += dimple * P("dimple_amp") * 0.5 + mar * P("marionette_amp") * 0.5 \
        + ment * P("mentolabial_amp") * 0.45


def _chin_marks(darken, brighten, cv: _Canvas, g: dict, ident: dict, photo: bool) -> None:
    """Chin boss: orange-peel wrinkles and a bulge (AU17)."""
    P = _per_face(g)
    sl, U, Y = cv.window("chin")
    boss_y = P("chin_y") - 0.13
    peel = _ss(0.5 + 0.75 * torch.cos(U * 95) * torch.cos(Y * 95)) * _bump(U, Y, 0.0, boss_y, 0.11, 0.06)
    darken[:, sl[0], sl[1]] += peel * P("chin_wr_amp") * 0.45
    brighten[:, sl[0], sl[1]] += 0.12 * P("chin_wr_amp") * _bump(U, Y, 0.0, boss_y, 0.1, 0.05)


def _beard_marks(darken, brighten, cv: _Canvas, g: dict, ident: dict, photo: bool) -> None:
    """Beard: stubble over the lower face, for the faces that have one (a photo has its own)."""
    rows = torch.nonzero(ident["beard"] > 0).flatten()
    if len(rows) and not photo:
        sl, U, Y = cv.window("lower")
        stub = 0.7 + 0.3 * torch.cos(U * 160) * torch.cos(Y * 140)
        darken[rows, sl[0], sl[1]] += _cover(_c(g["ny"][rows]) + 0.12 - Y, cv.aa) * stub * _c(ident["beard"][rows]) * 0.8


#: The mark painters in drawing order (the layers are sums, so the order fixes the float rounding), keyed by the
#: window of :data:`_WINDOWS` each one paints in.
_MARK_PAINTERS = {"forehead": _forehead_marks, "cheek": _cheek_marks, "nose": _nose_marks, "naso": _naso_marks,
                  "eyes": _eye_marks, "mouth": _mouth_marks, "chin": _chin_marks, "lower": _beard_marks}


# ---------------------------------------------------------------------------------------------------------------
# Features painted over the marked skin: lips, brows, eyes, hair in front, glasses

def _mouth_shapes(cv: _Canvas, g: dict, photo: bool):
    """The mouth window and the coverage there of the lips, the open mouth's interior, the teeth, the lip line and
    the corners."""
    P, aa = _per_face(g), cv.aa
    sl, U, Y = cv.window("mouth")
    mw, mcy = P("mw"), P("m_corner_y")
    fshape = (1 - (U / mw).clamp(max=1.0) ** 2).clamp(min=0)
    yc = mcy + (P("m_center_y") - mcy) * fshape
    sq = torch.sqrt(fshape + 1e-6)
    y_ui = yc - P("gap_u") * fshape
    y_li = yc + P("gap_l") * fshape
    in_x = _cover(U - mw, aa)
    lips = _cover(y_ui - P("lip_up") * sq - Y, aa) * _cover(Y - y_li - P("lip_lo") * sq, aa) * in_x
    inner = _cover(y_ui - Y, aa) * _cover(Y - y_li, aa) * in_x
    # the teeth seen below the upper lip (and above the lower one); a photo face shows the incisors' crowns at their
    # real height, about 0.07 canonical units (10 mm against 70 mm from the eyes to the mouth)
    up_t, lo_t = (0.07, 0.045) if photo else (0.025, 0.02)
    teeth = inner * (_cover(Y - (y_ui + up_t), aa) * P("upper_teeth")
                     + _cover((y_li - lo_t) - Y, aa) * P("lower_teeth")).clamp(max=1)
    line = _band(Y - yc, 0.006, aa) * _cover(U - mw - 0.008, aa) * (1 - inner)
    corner = _cover(_ellipse_d(U, Y, mw, mcy, 0.014, 0.009), aa)
    return sl, {"lips": lips, "inner": inner, "teeth": teeth, "line": line, "corner": corner}


def _paint_lips(img, face, cv: _Canvas, g: dict, col: dict) -> torch.Tensor:
    """Lips, mouth opening, teeth, the lip line and corners (in place, in the mouth window)."""
    sl, m = _mouth_shapes(cv, g, photo=False)
    f_w = face[:, sl[0], sl[1]]
    part = img[:, :, sl[0], sl[1]]
    part = _lerp(part, col["lip"] * (1 - _c(g["lip_dark"]).unsqueeze(1)), m["lips"] * f_w)
    part = _lerp(part, col["dark"], m["inner"] * f_w)
    part = _lerp(part, col["teeth"], m["teeth"] * f_w)
    part = part * (1 - (torch.maximum(m["line"], m["corner"]) * 0.55 * f_w).unsqueeze(1))
    img[:, :, sl[0], sl[1]] = part
    return img


def _paint_brows(img, face, cv: _Canvas, g: dict, ident: dict, col: dict) -> torch.Tensor:
    """The brows (in place, in the forehead window)."""
    P, I, aa = _per_face(g), _per_face(ident), cv.aa
    sl, U, Y = cv.window("forehead")
    by_in, by_out = P("by_in"), P("by_out")
    tb = ((U - P("bx_in")) / (P("bx_out") - P("bx_in"))).clamp(0, 1)
    yb = by_in + (by_out - by_in) * tb - P("b_arch") * 4 * tb * (1 - tb)
    brow = _band(Y - yb, P("b_th") * (1 - 0.45 * tb) / 2, aa) * _cover(P("bx_in") - U, aa) * _cover(U - P("bx_out"), aa)
    brow_col = torch.minimum(col["hair"] * 0.75, col["skin"] * 0.45)
    img[:, :, sl[0], sl[1]] = _lerp(img[:, :, sl[0], sl[1]], brow_col, brow * I("brow_dark") * face[:, sl[0], sl[1]])
    return img


def _paint_eyes(img, cv: _Canvas, g: dict, ident: dict, col: dict, features: frozenset) -> torch.Tensor:
    """Whites, irises, pupils and the upper lid line (in place, in the eyes window)."""
    P, I, aa = _per_face(g), _per_face(ident), cv.aa
    sl, U, Y = cv.window("eyes")
    ex, ey, ew, et, eb = P("ex"), P("ey"), P("ew"), P("et"), P("eb")
    eye_d = _ellipse_d(U, Y, ex, ey, ew, torch.where(Y < ey, et, eb))
    eye = _cover(eye_d, aa)
    gx = ex + I("gaze") * ew * 0.3
    iris = _cover(_ellipse_d(U, Y, gx, ey, ew * 0.45, ew * 0.45), aa) * eye
    pupil = iris * _cover(_ellipse_d(U, Y, gx, ey, ew * 0.18, ew * 0.18), aa)
    lash = _band(eye_d, 0.004, aa) * (Y < ey + 0.003) * _cover(U - ex - ew - 0.01, aa)
    if "eyes" in features:  # at 48 px the white is in the face's shade and the iris fills most of the opening
        iris = _cover(_ellipse_d(U, Y, gx, ey, ew * 0.56, ew * 0.56), aa) * eye
        pupil = iris * _cover(_ellipse_d(U, Y, gx, ey, ew * 0.22, ew * 0.22), aa)
        lash = _cover(eye_d.abs() - 0.009, aa) * (Y < ey - 0.002) * _cover(U - ex - ew - 0.016, aa)
    sclera = col["sclera"] * 0.85 if "eyes" not in features else 0.5 * col["sclera"] + 0.35 * col["skin"]
    part = img[:, :, sl[0], sl[1]]
    part = _lerp(part, sclera, eye)
    part = _lerp(part, col["iris"] * (0.6 if "eyes" in features else 1.0), iris)
    part = _lerp(part, col["dark"], torch.maximum(pupil, lash * 0.85))
    img[:, :, sl[0], sl[1]] = part
    return img


def _paint_hair(img, face, cv: _Canvas, g: dict, ident: dict, col: dict) -> torch.Tensor:
    """Hair in front: above the hairline (with a fringe) and side locks (the whole canvas; a new tensor)."""
    P, I, aa = _per_face(g), _per_face(ident), cv.aa
    U, Y = cv.u.view(1, 1, -1), cv.y.view(1, -1, 1)
    cy, fw, fh = P("cy"), P("fw"), P("fh")
    hairline = cy - fh * I("hairline") + 0.04 * torch.cos(U * 9 + I("hue") * 6)
    top = _cover(Y - (hairline + I("fringe") * 0.18 * _ss(1 - U / fw)), aa) * face
    sides = _cover(fw * (0.86 + 0.1 * I("side_hair")) - U, aa) * _cover(Y - (cy + 0.1 * I("side_hair")), aa) * face
    return _lerp(img, col["hair"], torch.maximum(top, sides * 0.9))


def _paint_glasses(img, cv: _Canvas, g: dict, ident: dict, col: dict) -> torch.Tensor:
    """Glasses: rims, lenses and the bridge, for the faces that wear them (in place, in the eyes window)."""
    aa = cv.aa
    rows = torch.nonzero(ident["glasses"] > 0).flatten()
    if len(rows):
        sl, U, Y = cv.window("eyes")
        gex, gey, gew = _c(g["ex"][rows]), _c(g["ey"][rows]), _c(g["ew"][rows])
        rim_d = _ellipse_d(U, Y, gex, gey + 0.005, gew * 1.55, gew * 1.15)
        rim = (_band(rim_d, 0.011, aa) + _band(Y - (gey - 0.01), 0.008, aa) * _cover(U - (gex - gew * 1.5), aa)).clamp(max=1)
        part = img[rows][:, :, sl[0], sl[1]]
        part = part + (_cover(rim_d, aa) * 0.08).unsqueeze(1) * (1 - part)
        part = _lerp(part, col["frame"][rows], rim)
        sub = img[rows]
        sub[:, :, sl[0], sl[1]] = part
        img[rows] = sub
    return img


# ---------------------------------------------------------------------------------------------------------------
# Relief: the surface height that the "surface" feature shades in the image

def _surface(height: torch.Tensor, cv: "_Canvas", g: dict, ident: dict, narrow, half_h) -> None:
    """Add the face's relief (canonical units, towards the camera) to ``height``, in place.

    An upright cylinder for the head; a brow ridge over deeper eye sockets with a round eyeball under the lids; the
    nose ridge rising to the tip with the wings beside it; the cheeks (lifted and fuller with AU6, AU12); lips standing out
    over a mentolabial hollow; the chin (with AU17's boss). Every AU-driven part stays inside that AU's region.
    """
    P = lambda k: _c(g[k])  # noqa: E731
    U, Y = cv.u.view(1, 1, -1), cv.y.view(1, -1, 1)
    yl = Y - P("cy")
    # a head is closer to an upright cylinder than to a ball: the sides turn away, forehead and cheeks stay broad
    side = (1 - (U / (P("fw") * narrow)) ** 2).clamp(min=0).sqrt()
    height += 0.28 * side * _ss((1 - yl.abs() / half_h) * 4)
    sl, U, Y = cv.window("forehead")
    ridge_y = _c(ident["eye_y"] - ident["brow_y"]) + 0.015
    height[:, sl[0], sl[1]] += 0.035 * _bump(U, Y, P("ex"), ridge_y, P("ew") * 2.3, 0.07)
    sl, U, Y = cv.window("eyes")
    ex, ey = P("ex"), P("ey")
    height[:, sl[0], sl[1]] -= 0.06 * _bump(U, Y, ex, ey - 0.015, P("ew") * 1.6, 0.1)
    lid_h = torch.where(Y < ey, P("et") + 0.02, P("eb") + 0.02)
    height[:, sl[0], sl[1]] += 0.025 * _bump(U, Y, ex, ey, P("ew") * 1.05, lid_h)
    sl, U, Y = cv.window("nose")
    ny = P("ny")
    t = ((Y - ey - 0.02) / (ny - ey - 0.02)).clamp(0, 1)
    width = P("nw") * (0.6 + 0.5 * t)
    along = t ** 1.2 * _ss((ny + 0.035 - Y) / 0.05)
    height[:, sl[0], sl[1]] += 0.06 * along * _ss(1 - (U / width) ** 2) + 0.03 * _bump(U, Y, 0.0, ny, 0.07, 0.05)
    height[:, sl[0], sl[1]] += 0.03 * _bump(U, Y, P("nw") * 0.65, P("nostril_y") - 0.01, 0.05, 0.035)
    sl, U, Y = cv.window("cheek")
    cheek = _bump(U, Y, P("cheek_x"), P("cheek_y") + 0.02, 0.15, 0.12)
    height[:, sl[0], sl[1]] += (0.006 + 0.03 * P("cheek_amp")) * cheek
    sl, U, Y = cv.window("mouth")
    height[:, sl[0], sl[1]] += 0.025 * _bump(U, Y, 0.0, P("m_center_y"), P("mw") * 1.15, 0.08)
    ment_y = P("m_center_y") + P("gap_l") + P("lip_lo") + 0.035
    height[:, sl[0], sl[1]] -= 0.025 * _bump(U, Y, 0.0, ment_y, 0.12, 0.03)
    sl, U, Y = cv.window("chin")
    height[:, sl[0], sl[1]] += 0.05 * _bump(U, Y, 0.0, P("chin_y") - 0.11, 0.17, 0.11)
    height[:, sl[0], sl[1]] += 0.03 * P("chin_wr_amp") * _bump(U, Y, 0.0, P("chin_y") - 0.13, 0.1, 0.05)
