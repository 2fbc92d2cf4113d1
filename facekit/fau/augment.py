"""Augmentations that turn a `lab` face into a plausible `wild` one, so a FAU model trained on lab faces only is
robust to the wild domain by construction (``facekit train-fau --robust``).

Each nuisance that separates the generator's `wild` domain from `lab` (``facekit.synth.render._NUISANCE``) gets an
image-space counterpart, drawn per face from ranges at least as wide as the wild ones:

=========== ===================================================================================================
nuisance    augmentation (on (B, C, S, S) images in [0, 1]; AU points move with the geometry)
=========== ===================================================================================================
pose        rotation +-0.45 rad, zoom 0.8-1.2, horizontal squash down to 0.8 (yaw-like), shift +-10 % (affine)
light       a directional shading ramp (random direction, depth 0-0.8) as a side light casts
contrast    contrast 0.55-1.5, brightness -0.25..0.2, gamma 0.6-1.6
blur        Gaussian blur, sigma 0-2 pixels (half the faces)
noise       Gaussian sensor noise, sigma 0-0.08
occlusion   a hand-sized ellipse or a strand-like band of random grey over part of the face (a third of the faces)
skin tone   (only with ``ranges={"skin": (lo, hi)}``, ``facekit train-fau --skin-tone LO``) the face region, a soft
            ellipse around the AU points, darkened by a factor drawn from (lo, hi): people's skin is darker than the
            training faces' while the background is not, which no global contrast or gamma change makes
=========== ===================================================================================================

Targets stay the true intensities (an occluded AU is still present, as in the wild test labels). ``p_clean`` of the
faces pass unchanged, so the model keeps seeing clean lab faces.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

WILD_RANGES = dict(rotation=0.45, zoom=(0.8, 1.2), squash=0.8, shift=0.1, light=0.8, contrast=(0.55, 1.5),
                   bright=(-0.25, 0.2), gamma=(0.6, 1.6), p_blur=0.5, blur=2.0, noise=0.08, p_occlude=0.33,
                   skin=None)
"""Ranges of :func:`wild_augment` (see the module docstring). ``skin`` is off (``None``) by default, so a recipe
without it draws the same random numbers as before it existed."""


def _u(b: int, lo: float, hi: float, g: torch.Generator | None) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(b, generator=g)


def affine_points(points: torch.Tensor, theta: torch.Tensor, size: int) -> torch.Tensor:
    """Where input-pixel ``points`` (B, ..., 2) land after ``F.grid_sample`` with ``F.affine_grid(theta)``.

    The grid maps output coordinates p to input coordinates q = A p + t (normalised, align_corners=False), so a
    point moves to p = A^-1 (q - t).
    """
    b = points.shape[0]
    q = (points + 0.5) / size * 2 - 1
    a, t = theta[:, :, :2], theta[:, :, 2]
    inv = torch.linalg.inv(a)
    flat = q.reshape(b, -1, 2) - t[:, None, :]
    p = torch.einsum("bij,bnj->bni", inv, flat).reshape(points.shape)
    return (p + 1) / 2 * size - 0.5


def _blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Per-image separable Gaussian blur (sigma in pixels, 0 = unchanged), 7 taps."""
    s = sigma.clamp(min=1e-3).view(-1, 1, 1, 1)
    taps = torch.arange(-3, 4, dtype=x.dtype)
    w = torch.exp(-(taps.view(1, -1, 1, 1) ** 2) / (2 * s.view(-1, 1, 1, 1) ** 2))   # (B, 7, 1, 1)
    w = w / w.sum(1, keepdim=True)
    out = x
    for dim in (2, 3):
        pad = [0, 0, 3, 3] if dim == 2 else [3, 3, 0, 0]
        p = F.pad(out, pad, mode="replicate")
        n = out.shape[dim]
        out = sum(w[:, k:k + 1] * p.narrow(dim, k, n) for k in range(7))
    return torch.where(sigma.view(-1, 1, 1, 1) > 0, out, x)


def face_mask(points: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 1, S, S) soft mask of the face around input-pixel AU ``points`` (B, ..., 2): an ellipse centred on their
    mean, 1.45 (across) and 1.6 (down) times their half extent (forehead to chin and cheek to cheek when every AU is
    read: brows to chin, eye to eye), with an edge 20 % wide."""
    b = points.shape[0]
    flat = points.reshape(b, -1, 2)
    centre = flat.mean(1)
    half = ((flat.amax(1) - flat.amin(1)) / 2 * torch.tensor([1.45, 1.6])).clamp(min=size * 0.1)
    grid = torch.arange(size, dtype=points.dtype)
    dx = (grid.view(1, 1, size) - centre[:, 0].view(-1, 1, 1)) / half[:, 0].view(-1, 1, 1)
    dy = (grid.view(1, size, 1) - centre[:, 1].view(-1, 1, 1)) / half[:, 1].view(-1, 1, 1)
    r = torch.sqrt(dx ** 2 + dy ** 2)
    return ((1.1 - r) / 0.2).clamp(0, 1).unsqueeze(1)


def wild_augment(x: torch.Tensor, points: torch.Tensor, generator: torch.Generator | None = None,
                 p_clean: float = 0.15, ranges: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Lab faces ``x`` (B, C, S, S) in [0, 1] and their AU points (B, A, 2, 2) in input pixels -> augmented copies.

    Seeded by ``generator`` (same generator state, same result). See the module docstring for what is drawn.
    """
    r = {**WILD_RANGES, **(ranges or {})}
    g = generator
    b, c, s, _ = x.shape
    keep = torch.rand(b, generator=g) < p_clean
    # pose: rotation, zoom, squash, shift (one affine warp; points follow)
    ang = _u(b, -r["rotation"], r["rotation"], g)
    zoom = _u(b, *r["zoom"], g)
    squash = _u(b, r["squash"], 1.0, g)
    shift = torch.stack([_u(b, -r["shift"], r["shift"], g), _u(b, -r["shift"], r["shift"], g)], 1) * 2
    cos, sin = torch.cos(ang), torch.sin(ang)
    rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], 1)    # (B, 2, 2)
    a = rot @ torch.diag_embed(torch.stack([1 / (zoom * squash), 1 / zoom], -1))
    theta = torch.cat([a, shift[:, :, None]], 2)
    theta[keep] = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]])
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    pts = affine_points(points, theta, s)
    # light: a shading ramp across the face from a random direction
    coords = (torch.arange(s, dtype=x.dtype) + 0.5) / s * 2 - 1
    d = _u(b, 0, 2 * math.pi, g)
    ramp = (torch.cos(d).view(-1, 1, 1, 1) * coords.view(1, 1, 1, s)
            + torch.sin(d).view(-1, 1, 1, 1) * coords.view(1, 1, s, 1))
    depth = _u(b, 0, r["light"], g).view(-1, 1, 1, 1)
    out = out * (1 - depth * (0.5 + 0.5 * ramp).clamp(0, 1))
    # skin tone: the face region (a soft ellipse around the AU points) darker, the background as it was
    if r["skin"] is not None:
        out = out * (1 - (1 - _u(b, *r["skin"], g).view(-1, 1, 1, 1)) * face_mask(pts, s))
    # contrast, brightness, gamma
    con = _u(b, *r["contrast"], g).view(-1, 1, 1, 1)
    bri = _u(b, *r["bright"], g).view(-1, 1, 1, 1)
    gam = torch.exp(_u(b, math.log(r["gamma"][0]), math.log(r["gamma"][1]), g)).view(-1, 1, 1, 1)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = ((out - mean) * con + mean + bri).clamp(0, 1) ** gam
    # occlusion: an ellipse (hand) or a band (hair strand) of one random grey
    occ = torch.rand(b, generator=g) < r["p_occlude"]
    cx, cy = _u(b, -0.6, 0.6, g).view(-1, 1, 1), _u(b, -0.3, 0.8, g).view(-1, 1, 1)
    rad = _u(b, 0.2, 0.45, g).view(-1, 1, 1)
    oa = _u(b, -1.5, 1.5, g).view(-1, 1, 1)
    px, py = coords.view(1, 1, s), coords.view(1, s, 1)
    rx = (px - cx) * torch.cos(oa) + (py - cy) * torch.sin(oa)
    ry = -(px - cx) * torch.sin(oa) + (py - cy) * torch.cos(oa)
    band = torch.rand(b, generator=g).view(-1, 1, 1) < 0.35
    ellipse = (rx / (rad * 0.6)) ** 2 + (ry / rad) ** 2 < 1
    strand = rx.abs() < rad * 0.2
    mask = (torch.where(band, strand, ellipse) & occ.view(-1, 1, 1)).unsqueeze(1)
    grey = torch.rand(b, generator=g).view(-1, 1, 1, 1).expand_as(out)
    out = torch.where(mask, grey, out)
    # blur, then sensor noise
    sigma = _u(b, 0, r["blur"], g) * (torch.rand(b, generator=g) < r["p_blur"])
    out = _blur(out, sigma)
    noise = _u(b, 0, r["noise"], g).view(-1, 1, 1, 1)
    out = (out + noise * torch.randn(out.shape, generator=g)).clamp(0, 1)
    out = torch.where(keep.view(-1, 1, 1, 1), x, out)
    return out.contiguous(), torch.where(keep.view(-1, *[1] * (points.ndim - 1)), points, pts)
