"""The BatchNorm momentum porting bug, made visible.

Keras: ``running = momentum * running + (1 - momentum) * batch`` with ``momentum=0.99``.
PyTorch: ``running = (1 - momentum) * running + momentum * batch``, so Keras' 0.99 is PyTorch's 0.01. Copying
0.99 into ``nn.BatchNorm2d`` keeps 99 % of the *last batch* and 1 % of the history: at test time the model
normalises with the statistics of whatever batch it saw last (in the starter, the 37-face remainder of an epoch).
"""
from __future__ import annotations

import copy

import pandas as pd
import torch
from torch import nn

from facekit.emotion.augment import random_crop_flip
from facekit.emotion.xception import preprocess


def _set_bn_momentum(model: nn.Module, momentum: float) -> nn.Module:
    """Set the momentum of every BatchNorm layer of ``model`` (in place) and return it."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = momentum
    return model


def rerun_bn_statistics(model: nn.Module, images: torch.Tensor, momentum: float, batch_size: int = 128,
                        crop: int = 44, seed: int = 0) -> nn.Module:
    """A copy of ``model`` whose BatchNorm running statistics were updated, with ``momentum``, by train-mode
    forward passes (no gradients, weights untouched) over the uint8 faces ``images`` in order, batch by batch,
    with the training augmentation. Returned in eval mode."""
    clone = _set_bn_momentum(copy.deepcopy(model).to(memory_format=torch.contiguous_format), momentum).train()
    generator = torch.Generator().manual_seed(seed)
    device = next(clone.parameters()).device
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            clone(preprocess(random_crop_flip(images[start:start + batch_size], crop, True, generator)).to(device))
    return clone.eval()


def trace_running_mean(model: nn.Module, images: torch.Tensor, momenta=(0.01, 0.99), batch_size: int = 128,
                       steps: int = 40, layer: str = "stem.bn1", channel: int | None = None, seed: int = 0) -> pd.DataFrame:
    """How the running mean of one BatchNorm channel (``layer``, ``channel``) moves over ``steps`` training
    batches for each momentum, next to the mean of each batch (``channel=None``: the channel with the largest
    running mean in ``model``, so the curves are not all near zero). Columns: ``step``, ``batch mean``, and one
    ``momentum=<m>`` column per momentum. The weights are not changed (forward passes only)."""
    if channel is None:
        channel = int(dict(model.named_modules())[layer].running_mean.abs().argmax())
    rows = {"step": list(range(1, steps + 1))}
    generator = torch.Generator().manual_seed(seed)
    batches = [images[torch.randint(0, len(images), (batch_size,), generator=generator)] for _ in range(steps)]
    for momentum in momenta:
        clone = _set_bn_momentum(copy.deepcopy(model).to(memory_format=torch.contiguous_format), momentum).train()
        bn = dict(clone.named_modules())[layer]
        seen, means = [], []
        inputs = {}
        hook = bn.register_forward_hook(lambda _m, inp, _o: inputs.__setitem__("x", inp[0]))
        aug = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for batch in batches:
                clone(preprocess(random_crop_flip(batch, 44, True, aug)))
                seen.append(float(bn.running_mean[channel]))
                means.append(float(inputs["x"][:, channel].mean()))
        hook.remove()
        rows[f"momentum={momentum:g}"] = seen
        rows["batch mean"] = means
    return pd.DataFrame(rows)


def plot_running_mean(trace: pd.DataFrame):
    """Line plot of :func:`trace_running_mean`: each momentum's running mean and the per-batch means."""
    import matplotlib.pyplot as plt  # lazy: plotting only; the CLI and training paths never load matplotlib

    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    ax.plot(trace["step"], trace["batch mean"], ".", color="grey", label="mean of this batch")
    for column in trace.columns:
        if column.startswith("momentum="):
            ax.plot(trace["step"], trace[column], lw=2, label=f"running mean, PyTorch {column}")
    ax.set_xlabel("training batch")
    ax.set_ylabel("BatchNorm running mean (one channel)")
    ax.set_title("PyTorch momentum 0.01 = Keras 0.99; PyTorch 0.99 follows the last batch")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
