"""Heatmap targets and the intensity readout of the FAU model.

Target (as Sanchez-Lozano et al., BMVC 2018, and the Fan et al. port): for each AU, one map per point it acts on
(left and right), holding a Gaussian of standard deviation ``sigma`` map pixels centred on the point, with peak
height equal to the AU's intensity on the raw 0-5 scale (the port multiplies by 255; we keep 0-5 so the loss and
the readout are in intensity units). The centre is rounded to the nearest map pixel and clipped into the map, so the
peak value is exactly the intensity.

Readout (as upstream): the maximum of each map, averaged over the AU's two maps, clipped to [0, 5].
:func:`read_intensities` therefore recovers the intensity of a clean target exactly.
"""
from __future__ import annotations

import torch

_MAX_INTENSITY = 5.0


def image_to_map(points: torch.Tensor, image_size: int, map_size: int) -> torch.Tensor:
    """Pixel coordinates (x, y) in the input image -> map pixel coordinates (pixel centres map onto centres)."""
    scale = map_size / image_size
    return (points + 0.5) * scale - 0.5


def make_heatmaps(points: torch.Tensor, intensities: torch.Tensor, map_size: int, sigma: float = 2.0,
                  image_size: int | None = None) -> torch.Tensor:
    """Build targets: ``points`` (B, A, P, 2) as (x, y), ``intensities`` (B, A) in 0-5 -> (B, A * P, map, map).

    ``points`` are in map pixels, or in image pixels when ``image_size`` is given. Map ``a * P + p`` is point ``p``
    of AU ``a`` (P = 2: left then right), the order of the model's ``final_layer``.
    """
    points = torch.as_tensor(points, dtype=torch.float32)
    intensities = torch.as_tensor(intensities, dtype=torch.float32)
    if points.ndim != 4 or points.shape[-1] != 2:
        raise ValueError(f"make_heatmaps: points must be (batch, aus, points_per_au, 2), got {tuple(points.shape)}.")
    if intensities.shape != points.shape[:2]:
        raise ValueError(f"make_heatmaps: intensities {tuple(intensities.shape)} must be (batch, aus) = "
                         f"{tuple(points.shape[:2])}, one value per AU.")
    if image_size is not None:
        points = image_to_map(points, image_size, map_size)
    b, a, p, _ = points.shape
    centre = points.round().clamp(0, map_size - 1)                       # (B, A, P, 2)
    grid = torch.arange(map_size, dtype=torch.float32)
    dx2 = (grid.view(1, 1, 1, -1) - centre[..., 0:1]) ** 2               # (B, A, P, W)
    dy2 = (grid.view(1, 1, 1, -1) - centre[..., 1:2]) ** 2               # (B, A, P, H)
    g = torch.exp(-(dy2.unsqueeze(-1) + dx2.unsqueeze(-2)) / (2 * sigma ** 2))  # (B, A, P, H, W)
    maps = g * intensities.view(b, a, 1, 1, 1)
    return maps.reshape(b, a * p, map_size, map_size)


def read_intensities(heatmaps: torch.Tensor, maps_per_au: int = 2, clip: bool = True) -> torch.Tensor:
    """(B, A * P, H, W) heatmaps -> (B, A) intensities: max of each map, mean over the AU's P maps, in [0, 5]."""
    if heatmaps.ndim != 4 or heatmaps.shape[1] % maps_per_au:
        raise ValueError(f"read_intensities: expected (batch, aus * {maps_per_au}, H, W) heatmaps, "
                         f"got {tuple(heatmaps.shape)}.")
    peaks = heatmaps.flatten(2).amax(dim=2)                               # (B, A * P)
    values = peaks.view(peaks.shape[0], -1, maps_per_au).mean(dim=2)
    return values.clamp(0, _MAX_INTENSITY) if clip else values


def peak_locations(heatmaps: torch.Tensor) -> torch.Tensor:
    """(B, M, H, W) -> (B, M, 2) integer (x, y) of each map's maximum, for plotting."""
    b, m, h, w = heatmaps.shape
    idx = heatmaps.flatten(2).argmax(dim=2)
    return torch.stack([idx % w, idx // w], dim=-1)
