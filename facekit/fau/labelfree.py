"""Label-free few-shot tuning: facekit's own method for a handful of faces that come without AU labels.

The course describes a label-free tuning in its ``train.py``, but that file is not public: Pytorch-FAU ships
``network.py``, ``run_demo.py``, ``load_data.py`` and ``utils.py`` only ("The full code will be available soon").
What the course says of its loss (the model's heatmap against a colour-mapped copy of the same heatmap) has no
fixed target, so predicting one map for every face lowers it (see :mod:`facekit.fau.fewshot`). This module is
facekit's replacement, and it is self-training with *fixed* pseudo-labels:

1. **BatchNorm adaptation** (AdaBN, Li et al. 2016): :func:`adapt_batchnorm` re-estimates the untuned model's
   BatchNorm running statistics on the new faces (train-mode forward passes, no gradients, weights untouched).
   What separates a new face set from the training faces is largely their pixel statistics (light, contrast,
   texture), and these statistics are what BatchNorm normalises.
2. **Pseudo-labels** from the adapted model (:func:`pseudo_labels`): its heatmaps of each face averaged with those
   of the mirrored face (mirrored back, left and right maps swapped), a test-time augmentation that removes some of
   each single prediction's noise. Each AU's pseudo-intensity is the usual readout (maximum of its two maps,
   averaged) and each point is where its map peaks.
3. **Tuning**: the ordinary trainer (:func:`facekit.fau.train.train_fau`, the same loop, loss and augmentation as
   the supervised tuning) on the faces with those pseudo-labels (:func:`facekit.fau.fewshot.tune_fewshot` with
   ``method="label-free"``). The augmentation moves the targets with the face, so the model is taught to give a
   flipped, shifted or relit copy of a face the answer it gave the face (consistency); the targets are computed
   once before training, so predicting one map for every face cannot lower the loss, and the model cannot collapse onto it.

What it can and cannot do: it adapts the model to the new faces' statistics and makes its answers consistent,
but it cannot correct what the untuned model reads wrongly (nothing tells it the truth). Notebook 07 measures it
against the supervised tuning on synthetic faces, where the truth is known.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from facekit.data.faceset import FaceSet
from facekit.fau.data import to_input
from facekit.fau.heatmaps import read_intensities
from facekit.fau.points import swaps_on_flip
from facekit.fau.train import predict_heatmaps

__all__ = ["METHODS", "adapt_batchnorm", "mirrored_heatmaps", "pseudo_labels"]

#: The tunings notebook 07's ``TUNING`` parameter chooses between.
METHODS = ("supervised", "label-free")


@torch.no_grad()
def adapt_batchnorm(model: nn.Module, data: FaceSet, batch_size: int = 64) -> nn.Module:
    """Re-estimate every BatchNorm layer's running mean and variance on the faces of ``data`` (in place): the
    statistics are reset and replaced by the cumulative average over train-mode forward passes (no gradients; the
    weights do not change). Returns ``model`` in eval mode."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: every face counts the same
    model.train()
    for start in range(0, len(data), batch_size):
        x = to_input(data.images.numpy()[start:start + batch_size], model.config.in_channels, model.config.input_size)
        model(x)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    return model.eval()


def mirrored_heatmaps(model: nn.Module, data: FaceSet) -> torch.Tensor:
    """(N, 2A, map, map): the mean of the model's heatmaps of each face and of its mirror image, mirrored back with
    each left/right pair of maps swapped (midline pairs stay), so both predictions speak of the same points."""
    direct = predict_heatmaps(model, data.images.numpy())
    mirror = predict_heatmaps(model, np.ascontiguousarray(data.images.numpy()[..., ::-1])).flip(-1)
    swap = np.flatnonzero(swaps_on_flip(model.config.aus))
    order = np.arange(mirror.shape[1])
    order[2 * swap], order[2 * swap + 1] = 2 * swap + 1, 2 * swap
    return (direct + mirror[:, order]) / 2


def pseudo_labels(model: nn.Module, data: FaceSet) -> FaceSet:
    """``data`` with the model's own answers as labels: intensities read from :func:`mirrored_heatmaps` and each
    AU point where its map peaks (in ``data``'s image pixels). ``meta["pseudo_labels"]`` is set."""
    heatmaps = mirrored_heatmaps(model, data)
    n, maps, side, _ = heatmaps.shape
    peak = heatmaps.flatten(2).argmax(dim=2)
    xy = torch.stack([peak % side, peak // side], dim=-1).float()               # map pixels (N, 2A, 2)
    points = (xy + 0.5) * (data.image_size / side) - 0.5                         # image pixels
    intensities = read_intensities(heatmaps, model.config.maps_per_au).numpy().astype(np.float32)
    out = FaceSet(data.images, au=torch.from_numpy(intensities), aus=data.aus,
                  points=torch.from_numpy(points.view(n, maps // 2, 2, 2).numpy().astype(np.float32)),
                  source=data.source, names=list(data.names), meta=dict(data.meta))
    out.meta["pseudo_labels"] = True
    return out
