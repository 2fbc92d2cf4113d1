"""Step 4 of the renderer: the half texture mirrored and posed into the image, then lit and degraded.

The half texture (:mod:`facekit.synth.texture`) is mirrored and warped into the image by the pose (roll, yaw-like
squash, scale, translation) with ``grid_sample``; directional light, background clutter, occlusion, gamma/contrast,
blur and sensor noise are then applied in image space. Photo faces (:func:`_render_photo_pixels`) take their skin
from a photograph and only the AU-driven layers from the texture.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from facekit.synth.geometry import _canonical_grid
from facekit.synth.photo import expression_warp, sample_photos
from facekit.synth.shapes import _band, _c, _cover, _ellipse_d, _lerp, _ss
from facekit.synth.texture import _TEX_X, _TEX_Y, _texture

#: The marks whose amplitude the AUs drive (on top of an identity's own lines, which a photo already has).
_MARK_AMPLITUDES = ("naso_amp", "fh_c_amp", "fh_l_amp", "glab_amp", "crow_amp", "under_eye_amp", "nose_wr_amp",
                    "dimple_amp", "marionette_amp", "chin_wr_amp", "mentolabial_amp", "cheek_amp")


def _render_pixels(ident: dict, g: dict, nuis: dict, col: dict, size: int, color: bool, features: frozenset,
                   noise: torch.Tensor | None, g0: dict | None = None) -> torch.Tensor:
    """The pixels (n, C, H, W) in 0-1 of faces whose geometry ``g`` (with the pose) and colors are known; ``g0``,
    the neutral geometry, for photo faces."""
    if "photo" in features:
        return _render_photo_pixels(ident, g, g0, nuis, col, size, color, features, noise)
    n = len(g["ex"])
    pose = {k: g[k] for k in ("roll", "yaw", "scale", "tx", "ty")}
    C = 3 if color else 1
    face, uf, Y = _sample_half_texture(_texture(ident, g, col, size, color, features), pose, size)
    # directional light over the head, in the image
    if "surface" in features:
        shade = _lambert(face[:, C + 1], nuis["light_dir"], nuis["light"], aa=2.0 / (size * _c(pose["scale"])))
    else:
        shade = _flat_shade(uf, Y, g, nuis)
    # background: flat + gradient + low-frequency clutter
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    ramp = _c(nuis["bg_grad"]) * (coords.view(1, 1, size) * 0.7 + coords.view(1, size, 1) * 0.3)
    field = F.interpolate(nuis["clutter_field"][:, :C] - 0.5, size=(size, size), mode="bicubic", align_corners=False)
    img = col["bg"] + ramp.unsqueeze(1) + field * nuis["clutter"].view(n, 1, 1, 1) * 2
    img = _lerp(img, face[:, :C] * shade.unsqueeze(1), face[:, C])
    return _degrade(img, nuis, col, size, noise)


def _degrade(img: torch.Tensor, nuis: dict, col: dict, size: int, noise: torch.Tensor | None) -> torch.Tensor:
    """Occlusion, gamma, contrast and brightness, blur and sensor noise over rendered faces (n, C, H, W); 0-1 out."""
    n = len(img)
    rows = torch.nonzero(nuis["occ"] > 0).flatten()
    if len(rows):
        img[rows] = _occlude(img[rows], {k: v[rows] for k, v in nuis.items() if k.startswith("occ")},
                             {k: v[rows] for k, v in col.items()}, size)
    img = img.clamp(0, 1) ** nuis["gamma"].view(n, 1, 1, 1)
    img = (img - 0.5) * nuis["contrast"].view(n, 1, 1, 1) + 0.5 + nuis["bright"].view(n, 1, 1, 1)
    rows = torch.nonzero(nuis["blur"] > 0).flatten()
    if len(rows):
        img[rows] = _blur(img[rows], nuis["blur"][rows] * (1.2 if size <= 64 else 2.5))
    if noise is not None:
        img = img + noise * nuis["noise"].view(n, 1, 1, 1)
    return img.clamp(0, 1)


def _sample_half_texture(half: torch.Tensor, pose: dict, size: int):
    """The half texture ``half`` (canonical frame, ``ua >= 0``) mirrored and sampled at every output pixel: (n, C,
    size, size), and the pixels' canonical coordinates (signed ``uf``, ``Y``) it was sampled at."""
    n = len(half)
    tex = torch.cat([half.flip(-1), half], -1)
    del half
    uf, Y = _canonical_grid(pose, size, n)
    grid = torch.stack([(uf / _TEX_X).expand(n, size, size),
                        ((Y - _TEX_Y[0]) / (_TEX_Y[1] - _TEX_Y[0]) * 2 - 1).expand(n, size, size)], -1)
    return F.grid_sample(tex, grid, mode="bilinear", padding_mode="border", align_corners=False), uf, Y


def _flat_shade(uf: torch.Tensor, Y: torch.Tensor, g: dict, nuis: dict) -> torch.Tensor:
    """Directional light over a face without relief (n, H, W): a linear ramp across the head towards the light."""
    ang = nuis["light_dir"]
    nx = (uf / _c(g["fw"])).clamp(-1, 1)
    ny = ((Y - _c(g["cy"])) / _c(g["fh"])).clamp(-1, 1)
    return 1 + _c(nuis["light"]) * (_c(torch.cos(ang)) * nx + _c(torch.sin(ang)) * ny)


def _render_photo_pixels(ident: dict, g: dict, g0: dict, nuis: dict, col: dict, size: int, color: bool,
                         features: frozenset, noise: torch.Tensor | None) -> torch.Tensor:
    """Photo faces (:mod:`facekit.synth.photo`): the identity's photograph moved by the expression warp, marked
    with the AU-driven wrinkles and the open mouth, then posed, lit and degraded like a drawn face."""
    n = len(g["ex"])
    pose = {k: g[k] for k in ("roll", "yaw", "scale", "tx", "ty")}
    marks = dict(g, **{k: g[k] - g0[k] for k in _MARK_AMPLITUDES})
    layers, uf, Y = _sample_half_texture(_texture(ident, marks, col, size, color, features), pose, size)
    uf, Y = uf.expand(n, size, size), Y.expand(n, size, size)
    src_u, src_y = expression_warp(g0, g, uf.abs(), Y)
    skin = sample_photos(ident, g0, torch.sign(uf) * src_u, src_y)
    if color:  # a gray photograph in the face's skin hue
        skin = skin * (col["skin"] / col["skin"].mean(1, keepdim=True).clamp(min=1e-3))
    dark, bright, inner, teeth = (layers[:, i:i + 1] for i in range(4))
    img = skin * (1 - dark) + bright * 0.5 * (1 - skin)
    img = img + (col["dark"] - img) * inner
    img = img + (col["teeth"] * 0.8 - img) * teeth
    img = img * _flat_shade(uf, Y, g, nuis).unsqueeze(1)
    return _degrade(img, nuis, col, size, noise)


def _lambert(height: torch.Tensor, ang: torch.Tensor, light: torch.Tensor, aa) -> torch.Tensor:
    """Diffuse shading (n, H, W) of the surface ``height`` (canonical units, per output pixel) lit from image
    direction ``ang`` at elevation ``1.3 * light`` radians from the camera axis; 1 where the surface faces the light
    as a flat frontal face would."""
    pad = F.pad(height.unsqueeze(1), (1, 1, 1, 1), mode="replicate")[:, 0]
    sx = (pad[:, 1:-1, 2:] - pad[:, 1:-1, :-2]) / (2 * aa)
    sy = (pad[:, 2:, 1:-1] - pad[:, :-2, 1:-1]) / (2 * aa)
    el = _c(light * 1.3)
    lx, ly, lz = torch.sin(el) * _c(torch.cos(ang)), torch.sin(el) * _c(torch.sin(ang)), torch.cos(el)
    ndotl = (-sx * lx - sy * ly + lz) / torch.sqrt(1 + sx * sx + sy * sy)
    return (0.3 + 0.7 * ndotl.clamp(min=0)) / (0.3 + 0.7 * lz)


def _occlude(img: torch.Tensor, occ: dict, col: dict, size: int) -> torch.Tensor:
    """A hand, a hair strand, or the crop edge of the photo over part of each image (image coordinates)."""
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    px, py = coords.view(1, 1, size), coords.view(1, size, 1)
    ox, oy, osz, oa = _c(occ["occ_x"]), _c(occ["occ_y"]), _c(occ["occ_size"]), _c(occ["occ_angle"])
    rx = (px - ox) * torch.cos(oa) + (py - oy) * torch.sin(oa)
    ry = -(px - ox) * torch.sin(oa) + (py - oy) * torch.cos(oa)
    kind = occ["occ_kind"]
    aa = torch.tensor(2.0 / size)
    hand = _cover(_ellipse_d(rx, ry, 0.0, 0.0, osz * 0.55, osz), aa)
    fingers = 1 - 0.25 * _ss(0.5 + 0.5 * torch.cos(rx * 2 * math.pi / (osz * 0.28))) * _cover(ry + osz * 0.2, aa)
    strand = _band(rx, osz * 0.18, aa)
    edge = (px * torch.sign(ox) > (1.35 - osz)).float()
    is_hand = _c((kind < 0.5).float())
    is_strand = _c(((kind >= 0.5) & (kind < 0.8)).float())
    is_crop = _c((kind >= 0.8).float())
    img = _lerp(img, col["skin"] * 0.95 * fingers.unsqueeze(1), hand * is_hand)
    img = _lerp(img, col["hair"], strand * is_strand)
    return _lerp(img, col["dark"] * 0, edge * is_crop)


def _blur(img: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Per-image Gaussian-like blur (sigma in pixels, 0 = none) as a separable 5-tap filter, elementwise only."""
    if not bool((sigma > 0).any()):
        return img
    s = sigma.clamp(min=1e-3).view(-1, 1, 1, 1)
    w = [torch.exp(-(k**2) / (2 * s**2)) for k in (-2, -1, 0, 1, 2)]
    total = sum(w)
    out = img
    for dim in (2, 3):
        pad = [0, 0, 2, 2] if dim == 2 else [2, 2, 0, 0]
        p = F.pad(out, pad, mode="replicate")
        length = out.shape[dim]
        out = sum(wk * p.narrow(dim, k, length) for k, wk in enumerate(w)) / total
    return out
