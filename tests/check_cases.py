"""The implementations tests/test_checks.py feeds the checks: correct ones written differently from the reference,
and subtly wrong ones, with the words each wrong one's failure must contain (see :func:`run_case`)."""
from __future__ import annotations

import contextlib
import types
from unittest import mock

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch
import torch.nn.functional as F
from torch import nn

from facekit import checks
from facekit.emotion import plots
from facekit.emotion.xception import MiniXception
from facekit.fau import model as fm


# --- the cases: correct implementations written differently, and subtly wrong ones ----------------------------
#
# Each case is (part, implementation, words): part picks the check (run_case); for a wrong case, `words` must all
# appear in the failures. Kept as data so the false-acceptance and false-rejection counts can be measured against
# any version of the checks (run_case takes the checks module).

def run_case(part: str, impl, checks_module=checks) -> checks.CheckResult:
    """Run one case's check on ``impl`` (a MiniXception class, (plot_loss, plot_acc), FAU patches, a train_step)."""
    if part == "xception":
        return checks_module.check_xception(impl, verbose=False)
    if part == "curves":
        return checks_module.check_curves(*impl, verbose=False)
    if part == "train_step":
        return checks_module.check_train_step(impl, verbose=False)
    if part == "class_weights":
        return checks_module.check_class_weights(impl, verbose=False)
    with contextlib.ExitStack() as stack:                  # part == "fau": impl = {(owner, attribute): replacement}
        for (owner, attr), value in impl.items():
            stack.enter_context(mock.patch.object(owner, attr, value))
        return checks_module.check_fau_model(verbose=False)


# Task 1 Q1: MiniXception variants (built from the reference, then changed the way a student would write it).

def _xception(change=None, **fixed):
    """A MiniXception subclass: ``fixed`` overrides constructor arguments (ignoring the caller's), ``change(model)``
    edits the built model."""
    class Variant(MiniXception):
        def __init__(self, **kw):
            super().__init__(**{**kw, **fixed})
            if change:
                change(self)
    return Variant


def _set_bn(model, **values):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            for k, v in values.items():
                setattr(m, k, v)


def _each_block(edit):
    def change(model):
        for block in model.blocks:
            edit(block)
    return change


def _bind(obj, name, func):
    setattr(obj, name, types.MethodType(func, obj))


def _functional_stem(model):
    del model.stem.relu1, model.stem.relu2
    _bind(model.stem, "forward", lambda s, x: F.relu(s.bn2(s.conv2(F.relu(s.bn1(s.conv1(x)))))))


def _functional_pool(block):
    del block.pool
    _bind(block, "forward", lambda s, x: F.max_pool2d(s.bn2(s.sep2(s.relu(s.bn1(s.sep1(x))))), 3, 2, 1)
          + s.shortcut(x))


def _with_dropout(block):
    block.drop = nn.Dropout(0.25)
    _bind(block, "forward", lambda s, x: s.drop(s.pool(s.bn2(s.sep2(s.relu(s.bn1(s.sep1(x))))))) + s.shortcut(x))


def _functional_dropout(model):
    _bind(model, "forward", lambda s, x: s.gap(F.dropout(s.features(x), 0.2, s.training)).flatten(1))


def _relu_after_add(block):
    _bind(block, "forward", lambda s, x: torch.relu(s.pool(s.bn2(s.sep2(s.relu(s.bn1(s.sep1(x)))))) + s.shortcut(x)))


def _relu_before_bn(block):
    _bind(block, "forward", lambda s, x: s.pool(s.bn2(s.sep2(s.bn1(s.relu(s.sep1(x)))))) + s.shortcut(x))


def _shortcut_first(block):
    def forward(s, x):
        skip = s.shortcut(x)
        h = s.relu(s.bn1(s.sep1(x)))
        h = s.bn2(s.sep2(h))
        return skip + s.pool(h)
    _bind(block, "forward", forward)


def _explicit_features(model):
    def features(s, x):
        x = s.stem(x)
        x = s.block4(s.block3(s.block2(s.block1(x))))
        return s.last_conv(x)
    _bind(model, "features", features)


def _stem_loop(model):
    def forward(s, x):
        for conv, bn, relu in ((s.conv1, s.bn1, s.relu1), (s.conv2, s.bn2, s.relu2)):
            x = relu(bn(conv(x)))
        return x
    _bind(model.stem, "forward", forward)


def _inplace_relus(model):
    model.stem.relu1, model.stem.relu2 = nn.ReLU(inplace=True), nn.ReLU(inplace=True)
    for block in model.blocks:
        block.relu = nn.ReLU(inplace=True)


def _softmax_out(model):
    _bind(model, "forward", lambda s, x: torch.softmax(s.gap(s.features(x)).flatten(1), 1))


def _set(attr_path, factory):
    def change(model):
        owner, _, attr = attr_path.rpartition(".")
        setattr(model.get_submodule(owner) if owner else model, attr, factory())
    return change


XCEPTION_CORRECT = {
    "inplace ReLUs": _xception(_inplace_relus),
    "MaxPool2d with tuple arguments": _xception(_each_block(lambda b: setattr(b, "pool", nn.MaxPool2d(
        kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))))),
    "block forward: shortcut first, named steps": _xception(_each_block(_shortcut_first)),
    "features: explicit block calls": _xception(_explicit_features),
    "stem forward as a loop": _xception(_stem_loop),
    "gap as AdaptiveAvgPool2d((1, 1))": _xception(_set("gap", lambda: nn.AdaptiveAvgPool2d((1, 1)))),
}
XCEPTION_WRONG = {
    "BatchNorm momentum hard-coded (bn_momentum ignored)": (
        _xception(lambda m: _set_bn(m, momentum=0.01, eps=1e-3)), ["bn_momentum", "ignore"]),
    "BatchNorm eps left at PyTorch's 1e-5": (_xception(lambda m: _set_bn(m, eps=1e-5)), ["eps=1e-05", "bn_eps"]),
    "stem BatchNorm with PyTorch's defaults": (_xception(lambda m: [setattr(m.stem, n, nn.BatchNorm2d(8))
                                                                    for n in ("bn1", "bn2")]), ["stem.bn1", "momentum"]),
    "functional F.relu in the stem": (_xception(_functional_stem), ["stem.relu1", "nn.ReLU", "guided"]),
    "functional F.max_pool2d in the blocks": (_xception(_each_block(_functional_pool)), ["block1.pool", "nn.MaxPool2d"]),
    "max-pool without padding": (_xception(_each_block(lambda b: setattr(b, "pool", nn.MaxPool2d(3, 2)))),
                                 ["'block1.pool' outputs (16, 21, 21)", "(16, 22, 22)"]),
    "depthwise convolution without padding": (_xception(lambda m: setattr(m.block1.sep1.depthwise, "padding", (0, 0))),
                                              ["'block1.sep1.depthwise' outputs (8, 42, 42)", "(8, 44, 44)"]),
    "AvgPool instead of MaxPool": (_xception(_each_block(lambda b: setattr(b, "pool", nn.AvgPool2d(3, 2, 1)))),
                                   ["block1.pool", "AvgPool2d", "max pooling"]),
    "dropout module added": (_xception(_each_block(_with_dropout)), ["Dropout", "block1.drop"]),
    "functional dropout in forward": (_xception(_functional_dropout), ["training mode", "dropout"]),
    "ReLU after the add": (_xception(_each_block(_relu_after_add)), ["block1", "how 'block1' combines"]),
    "ReLU before BatchNorm": (_xception(_each_block(_relu_before_bn)), ["'block1.relu'"]),
    "shortcut without BatchNorm": (_xception(lambda m: setattr(m.block2.shortcut, "bn", nn.Identity())),
                                   ["block2.shortcut.bn", "strict load"]),
    "last_conv without padding": (_xception(_set("last_conv", lambda: nn.Conv2d(128, 7, 3))),
                                  ["'last_conv' outputs (7, 1, 1)", "(7, 3, 3)"]),
    "global max pooling": (_xception(_set("gap", lambda: nn.AdaptiveMaxPool2d(1))), ["'gap'", "average"]),
    "softmax returned instead of logits": (_xception(_softmax_out), ["logits", "softmax"]),
    "stem conv1 with a bias": (_xception(_set("stem.conv1", lambda: nn.Conv2d(1, 8, 3))),
                               ["56,959", "stem.conv1.bias"]),
}


# Task 1 Q2: plot_loss / plot_acc variants.

SPLITS = (("train", "training"), ("public", "PublicTest"), ("private", "PrivateTest"))


def _curves(metric, ylabel, chance=None, *, labels=None, draw_chance=None, legend="ax", x="epoch", scale=1.0,
            ret="fig", columns_metric=None):
    """A plot function drawing the three splits with matplotlib, changed by the keyword arguments."""
    def plot(history, chance=chance):
        fig, ax = plt.subplots()
        xs = history["epoch"] if x == "epoch" else range(len(history))
        for (key, label), text in zip(SPLITS, labels or [lab for _, lab in SPLITS]):
            ax.plot(xs, history[f"{key}_{columns_metric or metric}"] * scale, marker="o", label=text)
        if chance is not None and draw_chance:
            draw_chance(ax, history, chance * scale)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        if legend == "ax":
            ax.legend()
        elif legend == "fig":
            fig.legend()
        return {"fig": fig, "ax": ax, "none": None}[ret]
    return plot


def _loss(**kw):
    return _curves("loss", "cross-entropy", **kw)


def _acc(**kw):
    return _curves("acc", "accuracy", draw_chance=kw.pop("draw_chance", lambda ax, h, c: ax.axhline(c, ls=":")), **kw)


def _seaborn(metric, ylabel):
    def plot(history, chance=None):
        cols = [f"{key}_{metric}" for key, _ in SPLITS]
        long = history.melt(id_vars="epoch", value_vars=cols, var_name="split", value_name=metric)
        fig, ax = plt.subplots()
        sns.lineplot(data=long, x="epoch", y=metric, hue="split", marker="o", ax=ax)
        if chance is not None:
            ax.axhline(chance, color="grey")
        ax.set_ylabel(ylabel)
        return fig
    return plot


def _pandas(metric, ylabel):
    def plot(history, chance=None):
        ax = history.plot(x="epoch", y=[f"{key}_{metric}" for key, _ in SPLITS])
        if chance is not None:
            ax.axhline(chance, ls="--", label="chance")
        ax.set_ylabel(ylabel)
        return ax.figure
    return plot


def _pyplot_state(metric, ylabel):
    def plot(history, chance=None):
        plt.figure()
        for key, label in SPLITS:
            plt.plot(history["epoch"], history[f"{key}_{metric}"], label=label)
        if chance is not None:
            plt.axhline(chance)
        plt.xlabel("epoch")
        plt.ylabel(ylabel)
        plt.legend()
        return plt.gcf()
    return plot


CURVES_CORRECT = {
    "chance as ax.plot(epochs, [c] * n)": (_loss(), _acc(draw_chance=lambda ax, h, c: ax.plot(
        h["epoch"], [c] * len(h), "k:", label="chance"))),
    "chance as ax.hlines": (_loss(), _acc(draw_chance=lambda ax, h, c: ax.hlines(c, h["epoch"].min(), h["epoch"].max()))),
    "chance as ax.axline": (_loss(), _acc(draw_chance=lambda ax, h, c: ax.axline((0, c), slope=0))),
    "fig.legend()": (_loss(legend="fig"), _acc(legend="fig")),
    "seaborn lineplot(hue=...)": (_seaborn("loss", "loss"), _seaborn("acc", "accuracy")),
    "pandas DataFrame.plot": (_pandas("loss", "loss"), _pandas("acc", "accuracy")),
    "pyplot state interface": (_pyplot_state("loss", "loss"), _pyplot_state("acc", "accuracy")),
    "accuracy in percent": (_loss(), _acc(scale=100.0)),
    "labels train / validation / test": (_loss(labels=["train", "validation", "test"]),
                                         _acc(labels=["train", "validation", "test"])),
}
CURVES_WRONG = {
    "public and private labels swapped": ((_loss(labels=["training", "PrivateTest", "PublicTest"]), plots.plot_acc),
                                          ["public_loss", "'PrivateTest'"]),
    "loss plot labelled 'accuracy'": ((_curves("loss", "accuracy"), plots.plot_acc), ["plot_loss", "'accuracy'"]),
    "plot_loss returns the Axes": ((_loss(ret="ax"), plots.plot_acc), ["plot_loss", "Axes", "Figure"]),
    "plot_loss returns nothing": ((_loss(ret="none"), plots.plot_acc), ["plot_loss", "None"]),
    "no chance line": ((plots.plot_loss, _acc(draw_chance=lambda ax, h, c: None)), ["chance", "0.25"]),
    "chance line hard-coded at 1/7": ((plots.plot_loss, _acc(draw_chance=lambda ax, h, c: ax.axhline(1 / 7))),
                                      ["chance", "0.25"]),
    "lines against the row number": ((_loss(x="index"), plots.plot_acc), ["plot_loss", "'epoch'"]),
    "no legend": ((_loss(legend=None), plots.plot_acc), ["plot_loss", "legend"]),
    "plot_acc draws the loss columns": ((plots.plot_loss, _acc(columns_metric="loss")), ["plot_acc", "train_acc"]),
}


# Task 2 Q1-Q2: Bottleneck and _make_deconv_layer variants (patched into facekit.fau.model).

def _bottleneck(change=None, forward=None, momentum=None):
    """A Bottleneck subclass: ``momentum`` hard-codes the BatchNorm momentum, ``change`` edits the layers,
    ``forward`` replaces forward."""
    class Variant(fm.Bottleneck):
        def __init__(self, *args, **kw):
            super().__init__(*args, **kw)
            if momentum is not None:
                for bn in (self.bn1, self.bn2, self.bn3):
                    bn.momentum = momentum
            if change:
                change(self)
    if forward:
        Variant.forward = forward
    return {(fm, "Bottleneck"): Variant}


def _functional_relu_forward(self, x):
    residual = x if self.downsample is None else self.downsample(x)
    out = F.relu(self.bn1(self.conv1(x)))
    out = F.relu(self.bn2(self.conv2(out)))
    return F.relu(self.bn3(self.conv3(out)) + residual)


def _three_relus_forward(self, x):
    out = self.relu1(self.bn1(self.conv1(x)))
    out = self.relu2(self.bn2(self.conv2(out)))
    out = self.bn3(self.conv3(out))
    return self.relu3(out + (x if self.downsample is None else self.downsample(x)))


def _three_relus(block):
    del block.relu
    block.relu1, block.relu2, block.relu3 = nn.ReLU(), nn.ReLU(), nn.ReLU()


def _no_final_relu_forward(self, x):
    out = self.relu(self.bn1(self.conv1(x)))
    out = self.relu(self.bn2(self.conv2(out)))
    return self.bn3(self.conv3(out)) + (x if self.downsample is None else self.downsample(x))


def _dropout_forward(self, x):
    out = self.relu(self.bn1(self.conv1(x)))
    out = F.dropout(self.relu(self.bn2(self.conv2(out))), 0.1, self.training)
    out = self.bn3(self.conv3(out))
    return self.relu(out + (x if self.downsample is None else self.downsample(x)))


def _stride_in_conv1(block):
    if block.stride != 1:
        block.conv1.stride, block.conv2.stride = (block.stride,) * 2, (1, 1)


def _deconv(padding=None, output_padding=None, momentum=None, bias=False, relu=nn.ReLU):
    """A _make_deconv_layer written out by hand: ``padding`` / ``output_padding`` / ``momentum`` fixed when given."""
    def make(self, num_layers, num_filters, num_kernels):
        layers = []
        for planes, kernel in zip(num_filters, num_kernels):
            pad, out_pad = fm._deconv_cfg(kernel)
            layers += [nn.ConvTranspose2d(self.inplanes, planes, kernel, 2, pad if padding is None else padding,
                                          out_pad if output_padding is None else output_padding, bias=bias),
                       nn.BatchNorm2d(planes, momentum=self.config.bn_momentum if momentum is None else momentum)]
            layers += [relu()] if relu else []
            self.inplanes = planes
        return nn.Sequential(*layers)
    return {(fm.ResNet, "_make_deconv_layer"): make}


def _deconv_own_padding(self, num_layers, num_filters, num_kernels):
    """Padding worked out from the kernel (out = 2 * in) instead of calling _deconv_cfg, as a comprehension."""
    specs = [(k // 2 - 1 + k % 2, k % 2) for k in num_kernels]
    blocks = []
    for planes, kernel, (pad, out_pad) in zip(num_filters, num_kernels, specs):
        blocks.append([nn.ConvTranspose2d(self.inplanes, planes, kernel_size=kernel, stride=2, padding=pad,
                                          output_padding=out_pad, bias=False),
                       nn.BatchNorm2d(planes, momentum=self.config.bn_momentum), nn.ReLU()])
        self.inplanes = planes
    return nn.Sequential(*[layer for block in blocks for layer in block])


FAU_CORRECT = {
    "Bottleneck with F.relu": _bottleneck(lambda b: delattr(b, "relu"), _functional_relu_forward),
    "Bottleneck with three ReLU modules": _bottleneck(_three_relus, _three_relus_forward),
    "Bottleneck with a non-inplace ReLU": _bottleneck(lambda b: setattr(b, "relu", nn.ReLU())),
    "deconv head with non-inplace ReLUs": _deconv(),
    "deconv head: own padding arithmetic, comprehension": {(fm.ResNet, "_make_deconv_layer"): _deconv_own_padding},
}
FAU_WRONG = {
    "Keras momentum 0.9 in the Bottleneck": (_bottleneck(momentum=0.9), ["'bn1'", "momentum=0.9", "new batch"]),
    "Bottleneck momentum hard-coded (argument ignored)": (_bottleneck(momentum=0.1), ["Bottleneck", "momentum=0.3",
                                                                                      "ignore"]),
    "Keras momentum 0.9 in the deconvolution head": (_deconv(momentum=0.9), ["deconv_layers.1", "momentum=0.9"]),
    "deconvolution head momentum hard-coded": (_deconv(momentum=0.1), ["deconv_layers.1", "bn_momentum"]),
    "deconvolution output_padding 1 with kernel 4": (_deconv(output_padding=1), ["deconv_layers.0", "9x9", "8x8"]),
    "deconvolution without padding": (_deconv(padding=0), ["deconv_layers.0", "10x10", "8x8"]),
    "deconvolution with a bias": (_deconv(bias=True), ["deconv_layers.0.bias", "strict load"]),
    "deconvolution head without ReLU": (_deconv(relu=None), ["deconv_layers", "strict load"]),
    "stride in the first 1x1 instead of the 3x3": (_bottleneck(_stride_in_conv1), ["'conv1'", "3x3"]),
    "no ReLU after the add": (_bottleneck(forward=_no_final_relu_forward), ["layer1.0"]),
    "dropout in the Bottleneck": (_bottleneck(forward=_dropout_forward), ["training mode", "dropout"]),
}


# Task 2 Q6: train_step variants.

def _step(*, zero="optimizer", forward="given", loss="given", ret="before", mode=None, steps=1, grad_ctx=None):
    """A train_step written out, changed by the keyword arguments (the defaults are a correct one)."""
    def train_step_variant(model, images, targets, optimizer, loss_fn=None, points=None):
        loss_fn = loss_fn or nn.MSELoss()
        model.train()
        if mode == "eval":
            model.eval()
        if zero == "optimizer":
            optimizer.zero_grad()
        elif zero == "model":
            model.zero_grad()
        elif zero == "keep":
            optimizer.zero_grad(set_to_none=False)
        elif zero == "manual":
            for p in model.parameters():
                p.grad = None
        with grad_ctx() if grad_ctx else contextlib.nullcontext():
            if forward == "given":
                heatmaps = model(images) if points is None else model(images, points=points)
            elif forward == "always_kw":
                heatmaps = model(images, points=points)
            elif forward == "positional":
                heatmaps = model(images, points) if points is not None else model(images)
            else:                                           # "no_points"
                heatmaps = model(images)
            value = (loss_fn if loss == "given" else nn.MSELoss())(heatmaps, targets)
        if zero == "between":
            value.backward()
            optimizer.zero_grad()
        else:
            value.backward()
        for _ in range(steps):
            optimizer.step()
        if zero == "after":
            optimizer.zero_grad()
        if ret == "after":
            with torch.no_grad():
                return float((loss_fn if loss == "given" else nn.MSELoss())(
                    model(images) if points is None else model(images, points=points), targets))
        return {"before": float(value.detach()), "item": value.item(), "tensor": value}[ret]
    return train_step_variant


TRAIN_STEP_CORRECT = {
    "zero_grad(set_to_none=False)": _step(zero="keep"),
    "model.zero_grad()": _step(zero="model"),
    "gradients cleared by hand": _step(zero="manual"),
    "zero_grad after the step": _step(zero="after"),
    "loss.item()": _step(ret="item"),
    "points passed positionally": _step(forward="positional"),
    "points=points always passed": _step(forward="always_kw"),
    "inside torch.enable_grad()": _step(grad_ctx=torch.enable_grad),
}
TRAIN_STEP_WRONG = {
    "model.eval() inside train_step": (_step(mode="eval"), ["eval", "BatchNorm"]),
    "loss_fn ignored": (_step(loss="mse"), ["loss_fn"]),
    "points ignored": (_step(forward="no_points"), ["points"]),
    "the loss after the step is returned": (_step(ret="after"), ["after", "before the step"]),
    "a tensor is returned": (_step(ret="tensor"), ["float", "Tensor"]),
    "zero_grad between backward and step": (_step(zero="between"), ["no gradients"]),
    "two optimizer steps per call": (_step(steps=2), ["optimizer.step() was called 4 times"]),
    "forward under torch.no_grad()": (_step(grad_ctx=torch.no_grad), ["train_step", "raised RuntimeError"]),
}

# Task 1 Q6: class_weights variants.

def _weights(scale=None, empty=0.0, length="num_classes", kind="torch"):
    """class_weights written out: ``scale(N, K, counts)`` replaces N / (K * n_c); ``empty`` is the weight of a class
    without faces; ``length`` 'max' sizes by the largest label; ``kind`` picks the library."""
    def class_weights(labels, num_classes=7):
        labels = np.asarray(labels.tolist() if isinstance(labels, torch.Tensor) else labels, dtype=int)
        k = num_classes if length == "num_classes" else int(labels.max()) + 1
        counts = np.bincount(labels, minlength=k).astype(float)
        with np.errstate(divide="ignore"):
            w = (scale or (lambda n, kk, c: n / (kk * c)))(len(labels), k, counts)
        w = np.where(counts > 0, w, empty)
        return {"torch": torch.tensor(w, dtype=torch.float32), "numpy": w, "list": w.tolist()}[kind]
    return class_weights


def _counter_weights(labels, num_classes=7):
    from collections import Counter

    counts = Counter(int(v) for v in (labels.tolist() if isinstance(labels, torch.Tensor) else labels))
    n = sum(counts.values())
    return [n / (num_classes * counts[c]) if counts[c] else 0.0 for c in range(num_classes)]


CLASS_WEIGHTS_CORRECT = {
    "NumPy array returned": _weights(kind="numpy"),
    "list from a Counter": _counter_weights,
}
CLASS_WEIGHTS_WRONG = {
    "1 / n_c without the N / K scale": (_weights(scale=lambda n, k, c: 1 / c), ["proportional to 1 / n_c", "N / (K * n_c)"]),
    "inverse: n_c / N": (_weights(scale=lambda n, k, c: c / n), ["frequent classes get the larger weights"]),
    "infinite weight for an empty class": (_weights(empty=np.inf), ["infinite", "weight 0"]),
    "sized by the largest label": (_weights(length="max"), ["4 weights for num_classes=5"]),
}

CORRECT = ([("xception", k, v) for k, v in XCEPTION_CORRECT.items()]
           + [("curves", k, v) for k, v in CURVES_CORRECT.items()]
           + [("fau", k, v) for k, v in FAU_CORRECT.items()]
           + [("train_step", k, v) for k, v in TRAIN_STEP_CORRECT.items()]
           + [("class_weights", k, v) for k, v in CLASS_WEIGHTS_CORRECT.items()])
WRONG = ([("xception", k, *v) for k, v in XCEPTION_WRONG.items()]
         + [("curves", k, *v) for k, v in CURVES_WRONG.items()]
         + [("fau", k, *v) for k, v in FAU_WRONG.items()]
         + [("train_step", k, *v) for k, v in TRAIN_STEP_WRONG.items()]
         + [("class_weights", k, *v) for k, v in CLASS_WEIGHTS_WRONG.items()])
QUESTION = {"xception": "Task 1 Q1", "curves": "Task 1 Q2", "class_weights": "Task 1 Q6", "fau": "Task 2 Q1-Q2", "train_step": "Task 2 Q6"}
