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


def add_colorbar(fig, axes, cmap: str = "jet", vmin: float = 0.0, vmax: float = 1.0, label: str = "",
                 location: str = "right"):
    """One colour bar for the overlays drawn in ``axes`` (an axes or an array of them) with ``cmap`` over
    [``vmin``, ``vmax``], at ``location`` ("right" or "bottom"); call it after ``tight_layout`` (the bar takes its
    space from those axes)."""
    from matplotlib.cm import ScalarMappable  # lazy: plotting only; the CLI and training paths never load matplotlib
    from matplotlib.colors import Normalize  # lazy: plotting only; the CLI and training paths never load matplotlib

    mappable = ScalarMappable(norm=Normalize(vmin=vmin, vmax=vmax), cmap=cmap)
    mappable.set_array([])
    if location == "bottom":  # a thin bar under one axes, below its x label, without shrinking the axes
        ax = np.ravel(axes)[-1]
        bar = fig.colorbar(mappable, cax=ax.inset_axes([0.05, -0.5, 0.9, 0.08]), orientation="horizontal")
    else:
        bar = fig.colorbar(mappable, ax=list(np.ravel(axes)), fraction=0.03, pad=0.02, aspect=30)
    bar.set_label(label, fontsize=8)
    bar.ax.tick_params(labelsize=7)
    return bar
