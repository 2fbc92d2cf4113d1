"""MiniXception: the emotion classifier of Task 1 (Arriaga et al., "Real-time convolutional neural networks for
emotion and gender classification", Figure 1), as a PyTorch module with stable, readable layer names.

Layout (56,951 trainable parameters for 7 classes and 1 input channel)::

    stem       conv1 3x3 (1->8, no padding, no bias) - bn1 - relu1 - conv2 3x3 (8->8) - bn2 - relu2
    block1..4  main:     sep1 (depthwise 3x3 + pointwise 1x1) - bn1 - relu - sep2 - bn2 - pool (max 3x3, stride 2, pad 1)
               shortcut: conv 1x1 stride 2 (no bias) - bn        output = main + shortcut  (no ReLU after the add)
               channels 8->16, 16->32, 32->64, 64->128
    last_conv  3x3 (128->num_classes, pad 1, bias)   then  gap (global average pooling) -> logits (N, num_classes)

Names that other modules rely on (the Keras converter and the Grad-CAM wrappers): ``stem.conv1/bn1/conv2/bn2``,
``block1``..``block4`` each with ``sep1.depthwise``, ``sep1.pointwise``, ``bn1``, ``sep2.depthwise``,
``sep2.pointwise``, ``bn2``, ``pool``, ``shortcut.conv``, ``shortcut.bn``; ``last_conv``; ``gap``.

Input convention: a float tensor (N, 1, H, W) made by :func:`preprocess` from uint8 pixels (pixels/255, then
(x - 0.5) / 0.5, i.e. values in [-1, 1], exactly as the original Keras model's ``preprocess_input``). The model
returns logits (no softmax), as ``nn.CrossEntropyLoss`` expects.

BatchNorm momentum: Keras' ``momentum=0.99`` means "keep 99 % of the running statistic"; PyTorch's ``momentum`` is
the weight of the *new* batch, so the same behaviour is ``momentum=0.01``. Copying 0.99 into PyTorch makes the
running mean/var follow almost only the last training batch (see ``bn_momentum``; the notebook demonstrates it).
"""
from __future__ import annotations

import pandas as pd
import torch
from torch import nn

#: Pixel value mapped to 0 and the scale: x_float = (x_uint8 / 255 - PIXEL_CENTER) / PIXEL_SCALE, in [-1, 1].
PIXEL_CENTER = 0.5
PIXEL_SCALE = 0.5

#: Channels of the four residual blocks (Figure 1).
_BLOCK_CHANNELS = (16, 32, 64, 128)
#: Channels of the two stem convolutions.
_STEM_CHANNELS = 8


def preprocess(images: torch.Tensor) -> torch.Tensor:
    """uint8 faces -> the float input MiniXception expects: ``(images / 255 - 0.5) / 0.5``, values in [-1, 1].

    Accepts (H, W), (N, H, W) or (N, 1, H, W) uint8 tensors (a NumPy array is converted) and returns float32
    (N, 1, H, W). Every notebook, the trainer and the explanation code use this one function.
    """
    if not isinstance(images, torch.Tensor):
        images = torch.as_tensor(images)
    if images.dtype != torch.uint8:
        raise TypeError(f"preprocess expects uint8 pixels 0-255, got {images.dtype}; "
                        "pass the raw faces (FaceSet.images), not an already normalised tensor.")
    if images.ndim == 2:
        images = images[None, None]
    elif images.ndim == 3:
        images = images[:, None]
    elif images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"preprocess expects (H, W), (N, H, W) or (N, 1, H, W) grey faces, got {tuple(images.shape)}")
    return images.float().div_(255.0).sub_(PIXEL_CENTER).div_(PIXEL_SCALE)


def deprocess(x: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`preprocess`: float model input -> uint8 pixels (N, 1, H, W) (for showing inputs)."""
    return ((x.detach() * PIXEL_SCALE + PIXEL_CENTER) * 255.0).round().clamp(0, 255).to(torch.uint8)


class SeparableConv2d(nn.Module):
    """Depthwise 3x3 (one filter per input channel, no bias) followed by a pointwise 1x1 (no bias), 'same' padding."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3):
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, kernel_size, padding=kernel_size // 2,
                                   groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class Shortcut(nn.Module):
    """The residual branch: 1x1 convolution with stride 2 (no bias) then BatchNorm."""

    def __init__(self, in_channels: int, out_channels: int, bn_momentum: float, bn_eps: float):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, momentum=bn_momentum, eps=bn_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class XceptionBlock(nn.Module):
    """sep1-bn1-relu-sep2-bn2-pool plus the strided 1x1 shortcut; the two are added (no ReLU after the add)."""

    def __init__(self, in_channels: int, out_channels: int, bn_momentum: float, bn_eps: float):
        super().__init__()
        # Task 1 Q1: a residual block of Figure 1: sep1, bn1, relu, sep2, bn2, pool (max 3x3, stride 2, padding 1) and
        # the shortcut (use SeparableConv2d and Shortcut).
        ### BEGIN SOLUTION
        self.sep1 = SeparableConv2d(in_channels, out_channels)
        self.bn1 = nn.BatchNorm2d(out_channels, momentum=bn_momentum, eps=bn_eps)
        self.relu = nn.ReLU()
        self.sep2 = SeparableConv2d(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels, momentum=bn_momentum, eps=bn_eps)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.shortcut = Shortcut(in_channels, out_channels, bn_momentum, bn_eps)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Task 1 Q1: XceptionBlock.forward: the main branch (sep1 bn1 relu sep2 bn2 pool) plus the shortcut branch, no
        # ReLU after the add.
        ### BEGIN SOLUTION
        main = self.pool(self.bn2(self.sep2(self.relu(self.bn1(self.sep1(x))))))
        return main + self.shortcut(x)
        ### END SOLUTION


class Stem(nn.Module):
    """Two unpadded 3x3 convolutions (no bias), each followed by BatchNorm and ReLU: 48x48 -> 44x44."""

    def __init__(self, in_channels: int, channels: int, bn_momentum: float, bn_eps: float):
        super().__init__()
        # Task 1 Q1: the stem of Figure 1: conv1 3x3 (no padding, no bias), bn1, relu1, conv2, bn2, relu2 (BatchNorm
        # with bn_momentum and bn_eps).
        ### BEGIN SOLUTION
        self.conv1 = nn.Conv2d(in_channels, channels, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(channels, momentum=bn_momentum, eps=bn_eps)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(channels, momentum=bn_momentum, eps=bn_eps)
        self.relu2 = nn.ReLU()
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Task 1 Q1: Stem.forward: conv1 -> bn1 -> relu1 -> conv2 -> bn2 -> relu2.
        ### BEGIN SOLUTION
        return self.relu2(self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x))))))
        ### END SOLUTION


class MiniXception(nn.Module):
    """The mini-Xception emotion classifier (Figure 1). Input (N, in_channels, H, W) from :func:`preprocess`
    (H, W >= 5; trained at 44x44 crops, evaluated at 44x44 centre crops); output logits (N, num_classes).

    ``bn_momentum`` is PyTorch's convention (weight of the new batch): 0.01 equals Keras' 0.99. Passing 0.99
    reproduces the porting bug of the public starter. ``bn_eps`` defaults to Keras' 1e-3 so converted Keras
    weights give the same outputs.
    """

    def __init__(self, num_classes: int = 7, in_channels: int = 1, bn_momentum: float = 0.01, bn_eps: float = 1e-3):
        super().__init__()
        if not 0.0 < bn_momentum <= 1.0:
            raise ValueError(f"bn_momentum must lie in (0, 1] (PyTorch convention, 0.01 = Keras 0.99), got {bn_momentum}")
        self.config = {"num_classes": int(num_classes), "in_channels": int(in_channels),
                       "bn_momentum": float(bn_momentum), "bn_eps": float(bn_eps)}
        # Task 1 Q1: MiniXception layers: stem (STEM_CHANNELS), block1..block4 (BLOCK_CHANNELS), last_conv 3x3 to
        # num_classes (padding 1, bias) and gap (global average pooling).
        ### BEGIN SOLUTION
        self.stem = Stem(in_channels, _STEM_CHANNELS, bn_momentum, bn_eps)
        channels = (_STEM_CHANNELS, *_BLOCK_CHANNELS)
        self.block1 = XceptionBlock(channels[0], channels[1], bn_momentum, bn_eps)
        self.block2 = XceptionBlock(channels[1], channels[2], bn_momentum, bn_eps)
        self.block3 = XceptionBlock(channels[2], channels[3], bn_momentum, bn_eps)
        self.block4 = XceptionBlock(channels[3], channels[4], bn_momentum, bn_eps)
        self.last_conv = nn.Conv2d(channels[4], num_classes, 3, padding=1, bias=True)
        self.gap = nn.AdaptiveAvgPool2d(1)
        ### END SOLUTION

    @property
    def blocks(self) -> list[XceptionBlock]:
        return [self.block1, self.block2, self.block3, self.block4]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The class maps (N, num_classes, h, w) before global average pooling (the output of ``last_conv``)."""
        # Task 1 Q1: MiniXception.features: stem, the four blocks in order, then last_conv (forward adds the pooling).
        ### BEGIN SOLUTION
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.last_conv(x)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gap(self.features(x)).flatten(1)


def layer_table(model: nn.Module, input_size: int | tuple[int, int] = 48, in_channels: int | None = None) -> pd.DataFrame:
    """One row per leaf layer, in execution order: ``name``, ``type``, ``output_shape`` (C, H, W) for one
    ``input_size`` face, and ``params`` (trainable parameters of that layer). Residual block outputs (after the
    add) get a row of their own with 0 parameters. The last row, ``total``, sums the parameters."""
    if isinstance(input_size, int):
        input_size = (input_size, input_size)
    if in_channels is None:
        in_channels = getattr(model, "config", {}).get("in_channels", 1)
    rows, hooks = [], []

    def record(name: str, module: nn.Module, kind: str | None = None):
        def hook(_mod, _inp, out):
            rows.append({"name": name, "type": kind or type(module).__name__,
                         "output_shape": tuple(out.shape[1:]),
                         "params": sum(p.numel() for p in module.parameters(recurse=False) if p.requires_grad)})
        return hook

    for name, module in model.named_modules():
        if name and not any(True for _ in module.children()):
            hooks.append(module.register_forward_hook(record(name, module)))
        elif isinstance(module, XceptionBlock):
            hooks.append(module.register_forward_hook(record(f"{name} (add)", module, "Add")))
    # the "Add" hook counts only the block's own (non-recursive) parameters, which are none
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, in_channels, *input_size))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    table = pd.DataFrame(rows)
    total = pd.DataFrame([{"name": "total", "type": "", "output_shape": table["output_shape"].iloc[-1],
                           "params": int(table["params"].sum())}])
    return pd.concat([table, total], ignore_index=True)
