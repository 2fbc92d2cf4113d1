"""Task 2 Q1-Q2: ``Bottleneck`` and ``ResNet._make_deconv_layer`` (``facekit.fau.model``): shapes layer by layer, the
BatchNorm momentum (given and passed on), the deconvolutions doubling the map, then the shipped FAU checkpoint
loading strictly and reproducing its stored ``test`` intensities. ReLU may be a module or ``F.relu`` here (nothing
swaps this model's ReLUs), so weightless layers are not compared by name."""
from __future__ import annotations

import re

import numpy as np
import torch
from torch import nn

from facekit.checks import reference as ref
from facekit.checks.core import (CheckResult, attempt, batchnorms, first_difference, fresh, guarded, layer_trace,
                                 load_fingerprints, momentum_problem, random_in_training, shape_trace, state_mismatch,
                                 weightless)
from facekit.fau import model as fm
from facekit.fau.heatmaps import read_intensities
from facekit.io import load_checkpoint

#: A momentum other than the port's 0.1, to see that the argument reaches every BatchNorm.
_OTHER_MOMENTUM = 0.3
#: Bottleneck(64, 32, stride=2, downsample) on (2, 64, 16, 16): the output shape of each layer.
_BOTTLENECK_SHAPES = {"conv1": (32, 16, 16), "conv2": (32, 8, 8), "conv3": (128, 8, 8), "": (128, 8, 8)}
_WHY = {"conv1": "the first 1x1 reduces inplanes to planes without a stride: the stride belongs to the 3x3, conv2",
        "conv2": "the 3x3 carries the stride (padding 1)", "conv3": "the last 1x1 expands planes to planes * 4",
        "": "expansion 4, the stride in the 3x3"}


def _optional(name: str) -> bool:
    """A ReLU of a Bottleneck (module or functional): not compared by name."""
    return bool(re.search(r"(^|\.)relu\d*$", name))


def _bottleneck(result: CheckResult) -> bool:
    down = nn.Sequential(nn.Conv2d(64, 128, 1, stride=2, bias=False), nn.BatchNorm2d(128))
    what = "Bottleneck(64, 32, stride=2, downsample=...)"
    ok, block = attempt(result, what, fm.Bottleneck, 64, 32, stride=2, downsample=down)
    if not ok:
        return False
    shapes, order, error = shape_trace(_Whole(block), torch.rand(2, 64, 16, 16))
    problem = None
    for name, want in _BOTTLENECK_SHAPES.items():
        got = shapes.get(f"block.{name}".rstrip("."))
        if got is None:
            problem = (f"{what} raised {type(error).__name__}: {error}" if error is not None else
                       f"{what}: '{name}' is not called in forward")
        elif got != want:
            problem = (f"{what} on (2, 64, 16, 16): '{name or 'the block'}' outputs {(2, *got)}; expected "
                       f"{(2, *want)} ({_WHY[name]})")
        if problem:
            break
    if not result.add(problem is None, f"{what} maps (2, 64, 16, 16) to (2, 128, 8, 8), layer by layer"
                      if problem is None else problem):
        return False
    own = [(n, m) for n, m in batchnorms(block) if not n.startswith("downsample")]
    bad = next((p for p in (momentum_problem(n, m, 0.1, "the momentum argument") for n, m in own) if p), None)
    ok, other = attempt(result, f"Bottleneck(64, 32, momentum={_OTHER_MOMENTUM})", fm.Bottleneck, 64, 32,
                        momentum=_OTHER_MOMENTUM)
    if bad is None and ok:
        off = [(n, m.momentum) for n, m in batchnorms(other) if not np.isclose(m.momentum or 0, _OTHER_MOMENTUM)]
        bad = (f"with Bottleneck(64, 32, momentum={_OTHER_MOMENTUM}), '{off[0][0]}' has momentum={off[0][1]}: it "
               "ignores the momentum argument (hard-coded); pass momentum to bn1..bn3" if off else None)
    return ok and result.add(bad is None and len(own) == 3, "Bottleneck's three BatchNorms use its momentum argument"
                             if bad is None and len(own) == 3 else bad or f"Bottleneck has {len(own)} BatchNorm "
                             "layers besides the downsample; it needs bn1, bn2, bn3")


class _Whole(nn.Module):
    """Wraps a block so the block's own output is recorded too (as 'block')."""

    def __init__(self, block: nn.Module):
        super().__init__()
        self.block = block

    def forward(self, x):
        return self.block(x)


def _head(result: CheckResult, config: fm.FAUConfig) -> bool:
    """The deconvolution head: every BatchNorm with config.bn_momentum, every ConvTranspose2d doubling its input."""
    other = fm.FAUConfig.from_dict({**config.to_dict(), "bn_momentum": _OTHER_MOMENTUM})
    ok, model = attempt(result, "build_fau_model (ResNet with your Bottleneck and deconv head)", fm.build_fau_model,
                        other)
    if not ok:
        return False
    if not isinstance(getattr(model, "deconv_layers", None), nn.Module):
        return result.add(False, f"_make_deconv_layer returned {type(getattr(model, 'deconv_layers', None)).__name__}; "
                                 "return an nn.Sequential of the layers")
    head = [(f"deconv_layers.{n}", m) for n, m in batchnorms(model.deconv_layers)]
    bad = next((p for p in (momentum_problem(n, m, _OTHER_MOMENTUM, "config.bn_momentum") for n, m in head) if p), None)
    if not result.add(bad is None and bool(head), "the deconvolution head's BatchNorms use config.bn_momentum"
                      if bad is None and head else bad or "the deconvolution head has no BatchNorm"):
        return False
    sizes, hooks = [], []
    for name, m in model.deconv_layers.named_children():
        if isinstance(m, nn.ConvTranspose2d):
            hooks.append(m.register_forward_hook(
                lambda mod, inp, out, name=name: sizes.append((name, inp[0].shape[-1], out.shape[-1]))))
    try:
        ok, _ = attempt(result, "forward of the FAU model", model.eval(), torch.zeros(1, config.in_channels,
                                                                                      config.input_size,
                                                                                      config.input_size))
    finally:
        for h in hooks:
            h.remove()
    wrong = [(n, a, b) for n, a, b in sizes if b != 2 * a]
    if wrong or not sizes:
        n, a, b = wrong[0] if wrong else ("", 0, 0)
        return result.add(False, f"'deconv_layers.{n}' maps {a}x{a} to {b}x{b}; a stride-2 deconvolution must double "
                                 f"it ({2 * a}x{2 * a}): take padding and output_padding from _deconv_cfg(kernel)"
                          if wrong else "the deconvolution head has no ConvTranspose2d layer")
    return ok and result.add(True, f"each of the {len(sizes)} deconvolutions doubles the map "
                                   f"({sizes[0][1]}x{sizes[0][1]} -> {sizes[-1][2]}x{sizes[-1][2]})")


def _outputs(result: CheckResult, model: nn.Module, stored: dict) -> None:
    inputs = ref.fau_inputs(model.config)
    random = random_in_training(model, inputs[:2])
    result.add(not random, "forward is deterministic in training mode" if not random else
               "two forward passes in training mode on the same faces give different outputs: the model has no "
               "dropout (or other randomness) in forward")
    ok, out = attempt(result, "forward on data/fau/test", layer_trace, model, inputs)
    if not ok:
        return
    trace, heatmaps = out
    diff = first_difference(trace, stored["trace"], weightless(model), optional=_optional)
    want = np.array(stored["intensities"])
    got = read_intensities(heatmaps).double().numpy() if diff is None else None
    same = diff is None and got.shape == want.shape and np.allclose(got, want, atol=2e-3)
    result.add(same, f"with the trained weights it reproduces the stored AU intensities of the {len(want)} test "
               "subjects" if same else f"with the trained weights, {diff or 'the AU intensities differ'}")


@guarded("Task 2 Q1-Q2")
def check_fau_model(result: CheckResult) -> None:
    """Task 2 Q1-Q2: ``Bottleneck`` and ``_make_deconv_layer`` (``facekit.fau.model``) against the shipped weights."""
    stored = load_fingerprints()["fau"]
    if not _bottleneck(result):
        return
    path = ref.fau_checkpoint()
    ckpt = load_checkpoint(path)
    config = fm.FAUConfig.from_dict(ckpt["config"])
    if not _head(result, config) or not fresh(result, stored, path, ref.fau_images(config)):
        return
    ok, model = attempt(result, "build_fau_model", fm.build_fau_model, config)
    if not ok:
        return
    mismatch = state_mismatch(model, ckpt["state_dict"])
    if not result.add(mismatch is None, f"the trained checkpoint {path.name} loads strictly"
                      if mismatch is None else f"strict load of {path.name} fails: {mismatch}"):
        return
    model.load_state_dict(ckpt["state_dict"], strict=True)
    _outputs(result, model, stored)
