"""Drawing primitives of the renderer: analytic shapes with compact support and soft edges of width ``aa``."""
from __future__ import annotations

import torch


def _ss(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(0, 1)
    return x * x * (3 - 2 * x)


def _cover(d: torch.Tensor, aa: torch.Tensor) -> torch.Tensor:
    """Coverage (0-1) of a shape from its signed distance ``d`` (negative inside), soft over one pixel ``aa``."""
    return _ss(0.5 - d / aa)


def _ellipse_d(x, y, cx, cy, ax, ay) -> torch.Tensor:
    dx, dy = x - cx, y - cy
    e = (dx / ax) ** 2 + (dy / ay) ** 2
    grad = 2 * torch.sqrt((dx / ax**2) ** 2 + (dy / ay**2) ** 2) + 1e-6
    return (e - 1) / grad


def _bump(x, y, cx, cy, ax, ay) -> torch.Tensor:
    """A smooth bump, 1 at the centre and exactly 0 outside the ellipse."""
    e = ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2
    return _ss(1 - e)


def _band(v: torch.Tensor, half: torch.Tensor, aa: torch.Tensor) -> torch.Tensor:
    """Coverage of a line of half-width ``half`` at v = 0."""
    return _cover(v.abs() - half, aa)


def _lerp(img, color, m):
    return img + (color - img) * m.unsqueeze(1)


def _c(v):
    return v[:, None, None]


def _per_face(d: dict):
    """``k -> d[k]`` as (n, 1, 1), to broadcast a per-face parameter over an image or texture."""
    return lambda k: _c(d[k])
