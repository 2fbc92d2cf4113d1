"""Batched augmentation of uint8 faces with tensor ops: one gather per batch instead of per-face PIL transforms.

The starter's recipe: a random 44x44 crop of the 48x48 face plus a random horizontal flip for training, and the
centre 44x44 crop for evaluation. Both work on the raw uint8 tensor and return uint8 (N, crop, crop), so the whole
data set stays in memory as uint8 and only the current batch becomes float (via ``preprocess``).
"""
from __future__ import annotations

import torch


def _check(images: torch.Tensor, crop: int) -> None:
    if images.ndim != 3:
        raise ValueError(f"expected uint8 faces (N, H, W), got shape {tuple(images.shape)}")
    h, w = images.shape[1:]
    if not 0 < crop <= min(h, w):
        raise ValueError(f"crop {crop} does not fit faces of {h}x{w}; use a crop between 1 and {min(h, w)}")


def random_crop_flip(images: torch.Tensor, crop: int = 44, flip: bool = True,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Per face, a random ``crop`` x ``crop`` window and (if ``flip``) a coin-flip horizontal mirror.

    One advanced-indexing gather for the whole batch; draws from ``generator`` so runs repeat exactly.
    """
    _check(images, crop)
    n, h, w = images.shape
    oy = torch.randint(0, h - crop + 1, (n,), generator=generator)
    ox = torch.randint(0, w - crop + 1, (n,), generator=generator)
    steps = torch.arange(crop)
    rows = oy[:, None] + steps                                   # (n, crop)
    cols = ox[:, None] + steps
    if flip:
        mirrored = torch.rand(n, generator=generator) < 0.5
        cols = torch.where(mirrored[:, None], ox[:, None] + (crop - 1) - steps, cols)
    return images[torch.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def center_crop(images: torch.Tensor, crop: int = 44) -> torch.Tensor:
    """The central ``crop`` x ``crop`` window of every face (evaluation)."""
    _check(images, crop)
    h, w = images.shape[1:]
    top, left = (h - crop) // 2, (w - crop) // 2
    return images[:, top:top + crop, left:left + crop]
