"""The course kit's checkpoint files, read into facekit's models without retraining.

Two starter repositories ship (or make) weights in their own layout:

* **Task 1** (``pytorch-facial-expression-recognition``: ``src/train.py`` saves ``{'net': state_dict}`` as
  ``.t7``). Same mini-Xception as :class:`facekit.emotion.MiniXception` (94 keys, 56,951 parameters); only the
  names differ (``conv1``, ``module1.residual_conv``, ``module1.sepConv1`` vs ``stem.conv1``,
  ``block1.shortcut.conv``, ``block1.sep1``). The starter feeds ``ToTensor()`` pixels in [0, 1]; facekit's
  :func:`facekit.emotion.preprocess` feeds [-1, 1]. :func:`emotion_state_from_starter` renames the keys and folds
  the input convention into ``stem.conv1``/``stem.bn1`` (exact: ``conv1`` is unpadded and has no bias, so
  ``x01 = 0.5 * x + 0.5`` becomes ``W' = 0.5 W`` and ``running_mean' = running_mean - 0.5 * sum(W)``), so
  facekit's preprocess gives the starter's probabilities.
* **Task 2** (``Pytorch-FAU``: ``model.pth``, a bare state dict, ``module.`` prefixes from DataParallel, or
  ``{'state_dict': ...}``). Same ResNet-50 as ``FAUConfig.resnet50()`` except that the three deconvolution stages
  are ``deconv_layers_1..3`` (facekit: one ``deconv_layers`` Sequential). Its heatmaps peak at
  ``255 x intensity`` (``utils.OutIntensity`` divides the maximum by 255). :func:`fau_state_from_starter` renames
  the keys and folds the 1/255 into ``final_layer``, so **facekit heatmap = Pytorch-FAU heatmap / 255** (the
  documented scale, :data:`FAU_HEATMAP_SCALE`) and facekit's readout (max, clip to 0-5) gives the starter's
  intensities. Input is the same: RGB 256x256 in [0, 1].

Every file is read with ``torch.load(weights_only=True)`` (:func:`facekit.io.read_torch_file`): a file cannot run
code. A file in none of these formats gets :class:`facekit.io.CheckpointError` listing :data:`KNOWN_FORMATS`.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import torch

from facekit.data.fer import EMOTIONS
from facekit.io import CheckpointError, check_output, plain, read_torch_file, save_checkpoint

__all__ = ["FAU_HEATMAP_SCALE", "KNOWN_FORMATS", "checkpoint_label", "convert_file", "detect_task", "emotion_state_from_starter",
           "fau_state_from_starter", "read_any", "unknown_format_error", "unwrap_state_dict"]

#: The tags a facekit checkpoint carries: Task 1's ``arch`` and input convention, Task 2's ``kind`` (their homes are
#: here, below both tasks, because a starter file is converted into either; the tasks re-export them).
EMOTION_ARCH = "MiniXception"
EMOTION_INPUT = "float (N,1,44,44) from facekit.emotion.preprocess: uint8/255, then (x-0.5)/0.5 in [-1, 1]"
FAU_KIND = "fau_resnet"
#: The AUs of Pytorch-FAU's ten maps, two per AU, in run_demo.py's order (facekit.fau.FAU_AUS is the same tuple).
PYTORCH_FAU_AUS: tuple[int, ...] = (6, 10, 12, 14, 17)

#: Pytorch-FAU's heatmaps are facekit's times this (its targets are ``intensity * gaussian * 255``).
FAU_HEATMAP_SCALE = 255.0

#: What the loaders read, for the error a file in another format gets.
KNOWN_FORMATS: tuple[str, ...] = (
    "a facekit checkpoint (a dict with 'arch' or 'kind', 'config' and 'state_dict'; written by the notebooks, "
    "`facekit train-emotions`/`train-fau` or `facekit convert`)",
    "the Task 1 starter's .t7 (src/train.py: {'net': state_dict} of model.Model, keys conv1, module1.sepConv1, ...)",
    "Pytorch-FAU's model.pth (a bare state dict of network.ResNet with deconv_layers_1..3, or {'state_dict': ...})",
    "any of those state dicts with 'module.' prefixes (saved from nn.DataParallel)",
)


def unknown_format_error(path, what: str) -> CheckpointError:
    """The error for a file no loader understands: it names the file, what was found and every known format."""
    listed = "\n".join(f"  - {f}" for f in KNOWN_FORMATS)
    return CheckpointError(f"{path} is not a checkpoint format facekit knows ({what}). Known formats:\n{listed}\n"
                           "Check that you picked the right file (Task 1: a .t7/.pt emotion model; Task 2: "
                           "model.pth / a FAU checkpoint).")


def unwrap_state_dict(obj, path) -> tuple[dict, str]:
    """The tensor dict inside a starter file and a word on its wrapping: ``{'net': sd}``, ``{'state_dict': sd}``
    or a bare state dict; ``module.`` prefixes removed."""
    if not isinstance(obj, dict):
        raise unknown_format_error(path, f"a {type(obj).__name__}, not a dict")
    wrapping = "bare state dict"
    for key in ("net", "state_dict", "model"):
        if isinstance(obj.get(key), dict) and obj[key] and all(isinstance(v, torch.Tensor) for v in obj[key].values()):
            obj, wrapping = obj[key], f"{{'{key}': state_dict}}"
            break
    if not obj or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        keys = ", ".join(map(str, list(obj)[:6])) or "no keys"
        raise unknown_format_error(path, f"a dict with {keys}, not a state dict of tensors")
    if all(k.startswith("module.") for k in obj):
        obj, wrapping = {k[len("module."):]: v for k, v in obj.items()}, wrapping + " with 'module.' prefixes"
    return dict(obj), wrapping


def detect_task(state: dict) -> str | None:
    """``"emotion"`` for the Task 1 starter's names, ``"fau"`` for Pytorch-FAU's, else ``None``."""
    if "conv1.weight" in state and "module1.sepConv1.depthwise.weight" in state:
        return "emotion"
    if "conv1.weight" in state and "layer1.0.conv1.weight" in state and any(k.startswith("deconv_layers") for k in state):
        return "fau"
    return None


# ------------------------------------------------------------------------------------------------------- Task 1

_EMOTION_RULES = (
    (r"^conv1\.", "stem.conv1."), (r"^bn1\.", "stem.bn1."), (r"^conv2\.", "stem.conv2."), (r"^bn2\.", "stem.bn2."),
    (r"^module(\d)\.residual_conv\.", r"block\1.shortcut.conv."), (r"^module(\d)\.residual_bn\.", r"block\1.shortcut.bn."),
    (r"^module(\d)\.sepConv1\.", r"block\1.sep1."), (r"^module(\d)\.sepConv2\.", r"block\1.sep2."),
    (r"^module(\d)\.bn(\d)\.", r"block\1.bn\2."), (r"^last_conv\.", "last_conv."),
)


def _rename(key: str, rules) -> str | None:
    for pattern, repl in rules:
        if re.match(pattern, key):
            return re.sub(pattern, repl, key)
    return None


def emotion_state_from_starter(state: dict, path, fold_input: bool = True) -> dict:
    """A Task 1 starter state dict -> MiniXception's (renamed; with ``fold_input`` the [0, 1] input convention
    folded into the stem so :func:`facekit.emotion.preprocess` input gives the starter's outputs)."""
    out, unknown = {}, []
    for key, value in state.items():
        new = _rename(key, _EMOTION_RULES)
        (unknown.append(key) if new is None else out.__setitem__(new, value.clone()))
    if unknown:
        raise CheckpointError(f"{path}: looks like the Task 1 starter's model but has keys its model.py does not: "
                              f"{', '.join(unknown[:6])}. Is it a modified model.py? Rename them to the starter's.")
    if fold_input:
        w = out["stem.conv1.weight"]
        out["stem.bn1.running_mean"] = out["stem.bn1.running_mean"] - 0.5 * w.sum(dim=(1, 2, 3))
        out["stem.conv1.weight"] = 0.5 * w
    return out


# ------------------------------------------------------------------------------------------------------- Task 2

def fau_state_from_starter(state: dict, path, deconv_stages: int | None = None) -> tuple[dict, dict]:
    """A Pytorch-FAU state dict -> (facekit ResNet state dict, FAUConfig fields read from its shapes).

    ``deconv_layers_<i>.<j>`` (ConvTranspose2d, BatchNorm2d, ReLU per stage) become ``deconv_layers.<3(i-1)+j>``;
    ``final_layer`` is divided by :data:`FAU_HEATMAP_SCALE`. Depth (blocks per layer), width, deconv filters and
    kernels, input channels and the number of maps are read from the keys, so ResNet-50 and other depths load."""
    out = {}
    for key, value in state.items():
        m = re.match(r"^deconv_layers_(\d+)\.(\d+)\.(.+)$", key)
        if m:
            stage, idx, rest = int(m.group(1)), int(m.group(2)), m.group(3)
            out[f"deconv_layers.{3 * (stage - 1) + idx}.{rest}"] = value
        else:
            out[key] = value
    out["final_layer.weight"] = out["final_layer.weight"] / FAU_HEATMAP_SCALE
    if "final_layer.bias" in out:
        out["final_layer.bias"] = out["final_layer.bias"] / FAU_HEATMAP_SCALE
    layers = []
    for i in range(1, 5):
        blocks = {int(k.split(".")[1]) for k in out if k.startswith(f"layer{i}.")}
        if not blocks:
            raise CheckpointError(f"{path}: no layer{i} weights; not a Pytorch-FAU ResNet.")
        layers.append(max(blocks) + 1)
    if "layer1.0.conv3.weight" not in out:
        raise CheckpointError(f"{path}: layer1 has BasicBlocks (no conv3); facekit's FAU model is built of Bottleneck "
                              "blocks (ResNet-50/101/152). Use a Bottleneck checkpoint.")
    deconv = sorted({int(k.split(".")[1]) for k in out if k.startswith("deconv_layers.") and k.endswith(".weight")
                     and out[k].ndim == 4})
    filters = [int(out[f"deconv_layers.{i}.weight"].shape[1]) for i in deconv]
    kernels = [int(out[f"deconv_layers.{i}.weight"].shape[-1]) for i in deconv]
    fw = out["final_layer.weight"]
    num_maps = int(fw.shape[0])
    if num_maps % 2:
        raise CheckpointError(f"{path}: final_layer has {num_maps} maps; facekit reads two maps per AU.")
    aus = PYTORCH_FAU_AUS if num_maps == 2 * len(PYTORCH_FAU_AUS) else tuple(range(1, num_maps // 2 + 1))
    config = {"layers": layers, "base_width": int(out["conv1.weight"].shape[0]), "deconv_filters": filters,
              "deconv_kernels": kernels, "in_channels": int(out["conv1.weight"].shape[1]), "input_size": 256,
              "num_aus": num_maps // 2, "aus": list(aus), "final_conv_kernel": int(fw.shape[-1])}
    return out, config


#: How an answer names each checkpoint format.
_FORMAT_LABELS = {"facekit": "facekit checkpoint", "task1-starter": "the Task 1 starter's .t7, converted on load",
                 "pytorch-fau": "Pytorch-FAU's model.pth, converted on load"}


def checkpoint_label(model, name=None) -> str:
    """How an answer names a model: its checkpoint's file name and format, e.g. "`model.pth` (Pytorch-FAU's
    model.pth, converted on load)". ``name`` stands in when the model carries no ``checkpoint_path``."""
    fmt = getattr(model, "checkpoint_format", "facekit")
    path = getattr(model, "checkpoint_path", None) or name
    return f"`{Path(str(path)).name}` ({_FORMAT_LABELS.get(fmt, fmt)})"


def read_any(path: str | os.PathLike) -> tuple[dict, dict]:
    """``(facekit_checkpoint_dict, info)`` for any known format: a facekit file as it is; a starter file converted
    (``info``: ``format``, ``task``, ``wrapping``)."""
    path = Path(path)
    obj = read_torch_file(path)
    if isinstance(obj, dict) and "state_dict" in obj and ("arch" in obj or "kind" in obj or "config" in obj):
        task = "fau" if obj.get("kind") is not None else "emotion"
        return obj, {"format": "facekit", "task": task, "wrapping": "facekit checkpoint"}
    state, wrapping = unwrap_state_dict(obj, path)
    task = detect_task(state)
    if task == "emotion":
        sd = emotion_state_from_starter(state, path)
        ckpt = {"arch": EMOTION_ARCH, "config": {"num_classes": int(sd["last_conv.weight"].shape[0]), "in_channels": 1},
                "classes": list(EMOTIONS), "input": EMOTION_INPUT, "state_dict": sd}
        info = {"format": "task1-starter", "task": task, "wrapping": wrapping,
                "note": "renamed from the Task 1 starter's model.Model; its [0,1] input folded into stem.conv1/bn1"}
    elif task == "fau":
        sd, config = fau_state_from_starter(state, path)
        ckpt = {"kind": FAU_KIND, "config": config, "aus": config["aus"], "state_dict": sd}
        info = {"format": "pytorch-fau", "task": task, "wrapping": wrapping,
                "note": f"deconv_layers_1..3 -> deconv_layers; final_layer / {FAU_HEATMAP_SCALE:g} "
                        "(facekit heatmap = Pytorch-FAU heatmap / 255)"}
    else:
        keys = ", ".join(list(state)[:5])
        raise unknown_format_error(path, f"a state dict whose keys ({keys}, ...) match neither starter network")
    ckpt["provenance"] = {"source": str(path), "format": info["format"], "wrapping": wrapping, "note": info["note"]}
    return ckpt, info


def convert_file(src: str | os.PathLike, dst: str | os.PathLike, *, force: bool = False) -> Path:
    """Write a facekit checkpoint at ``dst`` from any known format at ``src`` (Task 1 or Task 2), with
    ``provenance`` (source file, its format and wrapping, what was changed). An existing ``dst`` is refused unless
    ``force``; the write is atomic. The converted file loads with the same loader and gives identical outputs."""
    src, dst = Path(src), Path(dst)
    check_output(dst, force=force)
    if dst.resolve() == src.resolve():
        raise FileExistsError(f"{dst} is the source file; write the conversion to another file.")
    ckpt, info = read_any(src)
    ckpt = dict(ckpt)
    ckpt.setdefault("provenance", {"source": str(src), "format": info["format"], "wrapping": info["wrapping"],
                                   "note": "already a facekit checkpoint: copied"})
    return save_checkpoint(plain(ckpt), dst)


def _cmd_convert(args) -> int:
    try:
        path = convert_file(args.src, args.dst, force=args.force)
    except (FileExistsError, FileNotFoundError, IsADirectoryError, PermissionError, CheckpointError) as exc:
        print(f"facekit convert: {exc}", file=sys.stderr)
        return 1
    ckpt, info = read_any(path)
    print(f"facekit convert: wrote {path} ({info['task']} model, from {ckpt['provenance']['format']}: "
          f"{ckpt['provenance']['wrapping']})")
    return 0


def add_command(sub) -> None:
    """``facekit convert SRC DST [--force]``."""
    p = sub.add_parser("convert", help="write a facekit checkpoint from a starter's .t7 / model.pth (or any known "
                                       "format), with provenance")
    p.add_argument("src", help="the file to read: Task 1 starter .t7, Pytorch-FAU model.pth, or a facekit checkpoint")
    p.add_argument("dst", help="the facekit checkpoint to write (refused if it exists, unless --force)")
    p.add_argument("--force", action="store_true", help="replace an existing DST")
    p.set_defaults(func=_cmd_convert)
