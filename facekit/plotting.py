"""Small drawing helpers shared by the figure functions of several modules."""
from __future__ import annotations

import numpy as np


def show_image(ax, image, title: str | None = None, fontsize: int = 8) -> None:
    """Draw a uint8 face on ``ax`` without ticks: grey (H, W) on a fixed 0-255 scale, or colour (3, H, W)."""
    img = np.asarray(image)
    if img.ndim == 3:
        ax.imshow(img.transpose(1, 2, 0))
    else:
        ax.imshow(img, cmap="gray", vmin=0, vmax=255)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=fontsize)
