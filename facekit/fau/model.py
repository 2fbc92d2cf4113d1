"""The FAU heatmap model: a ResNet of ``Bottleneck`` blocks followed by a deconvolution head (Fan et al., AAAI 2020).

Names follow the public PyTorch port the assignment's starter derives from, because the questions refer to them:
``Bottleneck``, ``ResNet`` with ``conv1``/``bn1``/``maxpool``, ``layer1`` .. ``layer4``, ``_make_deconv_layer`` ->
``deconv_layers``, and the 1x1 ``final_layer`` that outputs two heatmaps per AU (left and right point) in the order
AU6, AU10, AU12, AU14, AU17.

Depth, width and input size are configuration (:class:`FAUConfig`). ``FAUConfig.resnet50()`` is the assignment's
layout ([3, 4, 6, 3] blocks, base width 64, 256 deconvolution filters, 256x256 RGB input -> 64x64 maps); the default
``FAUConfig()`` is a CPU-sized variant that pretrains on 2 cores in minutes.

Unlike the port (``load_state_dict(strict=False)``, so a misnamed layer loads silently), :func:`load_fau_model` and
:func:`load_fau_weights` load strictly and say which keys are missing or unexpected and which configuration the
checkpoint was made with.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from torch import nn

from facekit.kit_formats import FAU_KIND, PYTORCH_FAU_AUS, read_any
from facekit.fau.attention import PatchAttention
from facekit.io import CheckpointError
from facekit.io import load_checkpoint
from facekit.io import non_finite
import pandas as pd

FAU_AUS: tuple[int, ...] = PYTORCH_FAU_AUS
"""The five AUs of the FERA 2015 intensity set, in the order of the model's output maps (two maps per AU)."""

ALL_AUS: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 16, 17, 20, 23, 25, 26)
"""Every AU the face generator renders (``facekit.synth.AUS``, same order): the AUs of ``FAUConfig.all_aus()``."""

_CHECKPOINT_KIND = FAU_KIND


class Bottleneck(nn.Module):
    """1x1 (reduce) -> 3x3 (stride) -> 1x1 (expand x4), each followed by BatchNorm; ReLU after the shortcut add.

    ``downsample`` (a 1x1 conv + BatchNorm) projects the shortcut when the stride or channel count changes.
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 momentum: float = 0.1):
        super().__init__()
        # Task 2 Q1: Bottleneck layers: conv1 1x1 (inplanes->planes), conv2 3x3 with the stride, conv3 1x1
        # (planes->planes*expansion), each without bias and with its BatchNorm (bn1..bn3, momentum); one ReLU.
        ### BEGIN SOLUTION
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes, momentum=momentum)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, momentum=momentum)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion, momentum=momentum)
        self.relu = nn.ReLU(inplace=True)
        ### END SOLUTION
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Task 2 Q1: Bottleneck.forward: conv-bn-relu, conv-bn-relu, conv-bn, add the shortcut (downsampled when
        # given), then ReLU.
        ### BEGIN SOLUTION
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + residual)
        ### END SOLUTION


@dataclass
class FAUConfig:
    """Architecture and input format of a FAU heatmap model; saved inside every checkpoint.

    The default is the CPU-sized variant the workbook ships. Compared with :meth:`resnet50` it gives up depth
    ([1, 1, 1, 1] instead of [3, 4, 6, 3] blocks), width (16 instead of 64 base channels, 64 instead of 256 deconv
    filters), colour (grey input) and resolution (128x128 input -> 32x32 maps instead of 256 -> 64), i.e. roughly
    1/30 of the parameters and 1/100 of the compute.
    """

    layers: tuple[int, ...] = (1, 1, 1, 1)       # Bottleneck blocks in layer1..layer4
    base_width: int = 16                         # planes of layer1 (64 in ResNet-50); layer k has base_width * 2**(k-1)
    deconv_filters: tuple[int, ...] = (64, 64, 64)  # output channels of each ConvTranspose2d
    deconv_kernels: tuple[int, ...] = (4, 4, 4)  # kernel size of each ConvTranspose2d (4, 3 or 2)
    in_channels: int = 1                         # 1 = grey faces, 3 = RGB
    input_size: int = 128                        # side of the square input; maps are input_size / 4
    num_aus: int = 5                             # AUs predicted (= len(aus))
    maps_per_au: int = 2                         # left and right point of each AU
    bn_momentum: float = 0.1                     # BatchNorm momentum, as the port
    final_conv_kernel: int = 1                   # kernel of final_layer (1 or 3)
    patch_attention: bool = False                # D-PAttNet-style patch attention in `refine` (facekit.fau.attention)
    aus: tuple[int, ...] = FAU_AUS               # the AU of each pair of output maps, in order

    def __post_init__(self):
        self.aus = tuple(int(v) for v in self.aus)
        if self.num_aus != len(self.aus):
            raise ValueError(f"FAUConfig: num_aus={self.num_aus} but aus={self.aus} names {len(self.aus)} AUs; "
                             "give num_aus=len(aus) (FAUConfig.all_aus() does this for every generated AU).")
        self.layers = tuple(int(v) for v in self.layers)
        self.deconv_filters = tuple(int(v) for v in self.deconv_filters)
        self.deconv_kernels = tuple(int(v) for v in self.deconv_kernels)
        if len(self.layers) != 4 or min(self.layers) < 1:
            raise ValueError(f"FAUConfig.layers must be four positive block counts, got {self.layers}.")
        if len(self.deconv_filters) != len(self.deconv_kernels):
            raise ValueError(f"FAUConfig: {len(self.deconv_filters)} deconv_filters but {len(self.deconv_kernels)} "
                             "deconv_kernels; give one kernel size per deconvolution layer.")
        if self.input_size % 32:
            raise ValueError(f"FAUConfig.input_size={self.input_size}: use a multiple of 32 (e.g. 128 or 256).")

    @classmethod
    def resnet50(cls) -> "FAUConfig":
        """The assignment's layout: ResNet-50 blocks, 64 base width, three 256-filter deconvs, 256x256 RGB input."""
        return cls(layers=(3, 4, 6, 3), base_width=64, deconv_filters=(256, 256, 256), deconv_kernels=(4, 4, 4),
                   in_channels=3, input_size=256)

    @classmethod
    def all_aus(cls, **changes) -> "FAUConfig":
        """The default CPU-sized layout predicting every AU the generator renders (:data:`ALL_AUS`, 34 maps)."""
        return cls(**{"aus": ALL_AUS, "num_aus": len(ALL_AUS), **changes})

    @property
    def num_maps(self) -> int:
        return self.num_aus * self.maps_per_au

    @property
    def map_size(self) -> int:
        return self.input_size // 32 * 2 ** len(self.deconv_filters)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict, source: str = "checkpoint") -> "FAUConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"The {source} was made with FAUConfig options this facekit does not know: {unknown}. "
                             "Update facekit (git pull) or retrain with `facekit train-fau`.")
        return cls(**d)


def _deconv_cfg(kernel: int) -> tuple[int, int]:
    """(padding, output_padding) so that a stride-2 ConvTranspose2d exactly doubles the size, as in the port."""
    if kernel == 4:
        return 1, 0
    if kernel == 3:
        return 1, 1
    if kernel == 2:
        return 0, 0
    raise ValueError(f"Deconvolution kernel {kernel} is not supported: use 4, 3 or 2.")


class ResNet(nn.Module):
    """ResNet backbone (7x7/2 conv + 3x3/2 max-pool stem, layer1..layer4) + deconvolution head + ``final_layer``.

    ``forward``: stem -> layer1..layer4 -> deconv_layers -> refine -> final_layer. ``refine`` is ``nn.Identity()``
    by default: the slot where a feature-refinement module (e.g. patch attention) plugs in before ``final_layer``;
    it is called as ``refine(features, points)`` when AU points are given and as ``refine(features)`` otherwise,
    and returns a tensor of the features' shape.
    """

    def __init__(self, block: type[Bottleneck], layers, config: FAUConfig | None = None, refine=None):
        super().__init__()
        config = config or FAUConfig(layers=tuple(layers))
        self.config = config
        m = config.bn_momentum
        w = config.base_width
        self.inplanes = w
        self.conv1 = nn.Conv2d(config.in_channels, w, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(w, momentum=m)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, w, layers[0])
        self.layer2 = self._make_layer(block, w * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, w * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, w * 8, layers[3], stride=2)
        self.deconv_layers = self._make_deconv_layer(len(config.deconv_filters), list(config.deconv_filters),
                                                     list(config.deconv_kernels))
        # The refinement component is handed in (``refine(config) -> nn.Module``), so this module never imports it.
        self.refine: nn.Module = refine(config) if refine is not None else nn.Identity()
        k = config.final_conv_kernel
        self.final_layer = nn.Conv2d(config.deconv_filters[-1], config.num_maps, kernel_size=k, stride=1,
                                     padding=1 if k == 3 else 0)
        self.init_weights()

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        m = self.config.bn_momentum
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion, momentum=m),
            )
        layers = [block(self.inplanes, planes, stride, downsample, momentum=m)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, momentum=m) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def _make_deconv_layer(self, num_layers: int, num_filters: list[int], num_kernels: list[int]) -> nn.Sequential:
        """``num_layers`` x (ConvTranspose2d(kernel, stride 2, no bias) + BatchNorm + ReLU); no residuals."""
        if not num_layers == len(num_filters) == len(num_kernels):
            raise ValueError("_make_deconv_layer: num_layers must equal len(num_filters) and len(num_kernels).")
        # Task 2 Q2: _make_deconv_layer: for each (filters, kernel) a ConvTranspose2d from self.inplanes with stride 2
        # and no bias (_deconv_cfg gives padding and output_padding), BatchNorm2d (config.bn_momentum) and ReLU;
        # update self.inplanes; return an nn.Sequential.
        ### BEGIN SOLUTION
        layers: list[nn.Module] = []
        for planes, kernel in zip(num_filters, num_kernels):
            padding, output_padding = _deconv_cfg(kernel)
            layers += [
                nn.ConvTranspose2d(self.inplanes, planes, kernel_size=kernel, stride=2, padding=padding,
                                   output_padding=output_padding, bias=False),
                nn.BatchNorm2d(planes, momentum=self.config.bn_momentum),
                nn.ReLU(inplace=True),
            ]
            self.inplanes = planes
        return nn.Sequential(*layers)
        ### END SOLUTION

    def init_weights(self) -> None:
        """Kaiming convs, N(0, 0.001) deconvs and final layer (as the port), unit BatchNorm; seed before calling."""
        for mod in self.modules():
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(mod, nn.ConvTranspose2d):
                nn.init.normal_(mod.weight, std=0.001)
            elif isinstance(mod, nn.BatchNorm2d):
                nn.init.ones_(mod.weight)
                nn.init.zeros_(mod.bias)
        nn.init.normal_(self.final_layer.weight, std=0.001)
        nn.init.zeros_(self.final_layer.bias)

    def backbone(self) -> list[nn.Module]:
        """The ResNet part (stem + layer1..layer4), e.g. to freeze it when tuning only the head."""
        return [self.conv1, self.bn1, self.layer1, self.layer2, self.layer3, self.layer4]

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def forward(self, x: torch.Tensor, points: torch.Tensor | None = None) -> torch.Tensor:
        """(B, in_channels, S, S) in [0, 1] -> (B, 2 * num_aus, S/4, S/4) heatmaps.

        ``points`` (optional, (B, num_aus, 2, 2) input pixels) are used only by patch attention; others ignore them.
        """
        x = self.forward_stem(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.deconv_layers(x)
        x = self.refine(x) if points is None or isinstance(self.refine, nn.Identity) else self.refine(x, points)
        return self.final_layer(x)


def build_fau_model(config: FAUConfig | None = None) -> ResNet:
    """Build the heatmap model for ``config`` (default: the CPU-sized :class:`FAUConfig`)."""
    config = config or FAUConfig()
    return ResNet(Bottleneck, list(config.layers), config, refine=_patch_attention if config.patch_attention else None)


def _patch_attention(config: FAUConfig) -> nn.Module:
    """The patch-attention component for ``config`` (D-PAttNet style, :mod:`facekit.fau.attention`)."""
    return PatchAttention(config.deconv_filters[-1], config.num_maps, config.input_size)


def fau_checkpoint(model: ResNet, **extra) -> dict:
    """The dict :func:`facekit.io.save_checkpoint` writes for a FAU model (weights + its FAUConfig + extras)."""
    return {"kind": _CHECKPOINT_KIND, "state_dict": model.state_dict(), "config": model.config.to_dict(),
            "aus": list(model.config.aus), **extra}


class CheckpointMismatchError(ValueError):
    """A checkpoint's weights do not fit the model (different architecture or a corrupt/foreign file)."""


def _describe_keys(keys: list[str], limit: int = 12) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def load_fau_weights(model: ResNet, checkpoint: dict | str | os.PathLike, source: str | None = None,
                     skip: tuple[str, ...] = ()) -> ResNet:
    """Load a checkpoint's weights into ``model`` strictly; on any mismatch raise a :class:`CheckpointMismatchError`
    that lists the missing, unexpected and wrongly shaped keys and the configuration the checkpoint was made with.

    ``skip``: key prefixes left out on both sides (e.g. ``("final_layer.",)`` to start an all-AU model from a 5-AU
    checkpoint's backbone and deconvolution head); every other key must still match exactly.
    """

    source = source or "checkpoint"
    if not isinstance(checkpoint, dict):
        source = str(checkpoint)
        checkpoint = load_checkpoint(checkpoint)
    state = {k: v for k, v in checkpoint["state_dict"].items() if not k.startswith(tuple(skip))}
    own = {k: v for k, v in model.state_dict().items() if not k.startswith(tuple(skip))}
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong_shape = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
                   if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong_shape:
        made_with = checkpoint.get("config", "an unknown configuration (no 'config' saved: not a facekit FAU file?)")
        parts = [f"Checkpoint {source} does not fit this model."]
        if missing:
            parts.append(f"Missing keys ({len(missing)}): {_describe_keys(missing)}.")
        if unexpected:
            parts.append(f"Unexpected keys ({len(unexpected)}): {_describe_keys(unexpected)}.")
        if wrong_shape:
            parts.append(f"Shape mismatches, checkpoint vs model ({len(wrong_shape)}): {_describe_keys(wrong_shape)}.")
        parts.append(f"The checkpoint was made with FAUConfig {made_with}; this model is FAUConfig "
                     f"{getattr(model, 'config', FAUConfig()).to_dict()}. Build the model with the checkpoint's "
                     "configuration (facekit.fau.load_fau_model does this) or retrain with `facekit train-fau`.")
        raise CheckpointMismatchError(" ".join(parts))
    if skip:
        state = {**{k: v for k, v in model.state_dict().items() if k.startswith(tuple(skip))}, **state}
    model.load_state_dict(state, strict=True)
    return model


def load_fau_model(path: str | os.PathLike, device: str | torch.device = "cpu", **overrides) -> ResNet:
    """Build the model described by the checkpoint's saved FAUConfig and load its weights strictly (eval mode).

    ``path`` may also be Pytorch-FAU's ``model.pth`` (bare, ``module.`` prefixes, or ``{'state_dict': ...}``): the
    configuration (ResNet-50 for the course's file) is read from its keys and shapes, ``deconv_layers_1..3`` are
    renamed and its 0-255 heatmap scale folded into ``final_layer``, so facekit's heatmaps are Pytorch-FAU's / 255
    and the intensities (max of a map, 0-5) are the starter's (:mod:`facekit.kit_formats`). The model carries
    ``checkpoint_path`` and ``checkpoint_format`` (``"facekit"`` or ``"pytorch-fau"``).

    ``overrides`` change config fields (e.g. a switch added later) before the strict load. The checkpoint's
    training ``settings`` (what `facekit train-fau` ran, e.g. its ``robust`` augmentation) ride along as
    ``model.train_settings`` (an empty dict when it has none).
    """

    ckpt, info = read_any(path)  # a facekit file, or Pytorch-FAU's model.pth converted (weights_only=True either way)
    bad = non_finite({"state_dict": ckpt["state_dict"]})
    if bad:
        raise CheckpointError(f"Checkpoint {path} holds non-finite weights (NaN or inf in {', '.join(bad[:6])}): "
                              "the training that wrote it diverged; retrain it.")
    if info["format"] == "task1-starter":
        raise CheckpointMismatchError(
            f"Checkpoint {path} holds the Task 1 starter's emotion model, not a FAU heatmap model: load it with "
            "facekit.emotion.load_emotion_model, and pass Pytorch-FAU's model.pth or a facekit FAU checkpoint here.")
    if ckpt.get("arch") is not None and ckpt.get("kind") != _CHECKPOINT_KIND:
        raise CheckpointMismatchError(
            f"Checkpoint {path} holds a {ckpt['arch']!r} model (the Task 1 emotion classifier), not a FAU heatmap "
            "model: load it with facekit.emotion.load_emotion_model, and pass a FAU checkpoint here "
            "(data/checkpoints/fau_resnet.pt, or one written by `facekit train-fau`).")
    if "config" not in ckpt:
        raise CheckpointMismatchError(
            f"Checkpoint {path} has no FAUConfig ('config' key): it was not written by facekit.fau. "
            "Retrain with `facekit train-fau` or pass a facekit FAU checkpoint.")
    config = FAUConfig.from_dict({**ckpt["config"], **overrides}, source=f"checkpoint {path}")
    model = build_fau_model(config)
    load_fau_weights(model, ckpt, source=str(path))
    model.train_settings = dict(ckpt.get("settings") or {})
    model.checkpoint_path = Path(path)
    model.checkpoint_format = info["format"]
    return model.to(device).eval()


def stage_table(model: ResNet, batch: int = 1) -> "pd.DataFrame":
    """Output shape and parameter count of each stage (stem, layer1..4, deconv_layers, final_layer) for one
    forward pass of a random (batch, C, S, S) input."""

    c = model.config
    x = torch.rand(batch, c.in_channels, c.input_size, c.input_size)
    stages = [("input", None), ("stem (conv1+bn1+relu+maxpool)", [model.conv1, model.bn1]),
              *[(f"layer{i}", [getattr(model, f"layer{i}")]) for i in range(1, 5)],
              ("deconv_layers", [model.deconv_layers]), ("final_layer", [model.final_layer])]
    rows = []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for name, mods in stages:
            if name.startswith("stem"):
                x = model.forward_stem(x)
            elif mods is not None:
                x = mods[0](x)
            params = sum(p.numel() for m in (mods or []) for p in m.parameters())
            rows.append({"stage": name, "output": "x".join(str(v) for v in x.shape[1:]), "parameters": params})
    model.train(was_training)
    return pd.DataFrame(rows)
