"""Task 1 Q1: the student's ``MiniXception`` against Figure 1 and the shipped trained weights, in the order a
mistake shows: parameter count, BatchNorm settings (given and passed on), layer types that have no weights,
output shapes layer by layer (before any comparison of values), a strict load, randomness, then the outputs."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from facekit.checks import reference as ref
from facekit.checks.core import (CheckResult, attempt, batchnorms, first_difference, fresh, guarded, layer_trace,
                                 load_fingerprints, momentum_problem, random_in_training, shape_trace, state_mismatch,
                                 weightless)
from facekit.emotion import xception
from facekit.io import load_checkpoint

#: Trainable parameters of Figure 1's mini-Xception (7 classes, grey input).
XCEPTION_PARAMETERS = 56_951
#: Keras' BatchNorm momentum 0.99 and epsilon 1e-3 in PyTorch's convention.
XCEPTION_BN = {"momentum": 0.01, "eps": 1e-3}
#: Other BatchNorm settings the check builds the model with, to see that the constructor passes them on.
_OTHER_BN = {"bn_momentum": 0.05, "bn_eps": 2e-3}
#: What each weightless layer of Figure 1 must be, and why it must be a module (not a function call in forward).
_KINDS = {"ReLU": (nn.ReLU, "an nn.ReLU module", "guided backpropagation (Task 1 Q3) swaps the model's nn.ReLU "
                   "modules for guided ones, so a functional F.relu / torch.relu would escape it"),
          "MaxPool2d": (nn.MaxPool2d, "max pooling (an nn.MaxPool2d module, 3x3, stride 2, padding 1)",
                        "the checks and the Grad-CAM code find Figure 1's layers by name"),
          "AdaptiveAvgPool2d": ((nn.AdaptiveAvgPool2d, nn.AvgPool2d), "global average pooling (an "
                                "nn.AdaptiveAvgPool2d(1) module)", "the checks find Figure 1's layers by name")}


def _bn_settings(result: CheckResult, model: nn.Module, model_class) -> None:
    bns = batchnorms(model)
    if not result.add(bool(bns), f"{len(bns)} BatchNorm layers" if bns else "no BatchNorm layers (Figure 1 has 14)"):
        return
    problem = next((p for p in (momentum_problem(n, m, XCEPTION_BN["momentum"], "bn_momentum") for n, m in bns)
                    if p), None)
    if problem is None:
        eps = [(n, m.eps) for n, m in bns if not np.isclose(m.eps, XCEPTION_BN["eps"])]
        problem = (f"'{eps[0][0]}' has eps={eps[0][1]:g}; Keras' epsilon is 1e-3: pass bn_eps (default 1e-3) to every "
                   "BatchNorm2d" if eps else None)
    result.add(problem is None, "every BatchNorm has Keras' settings in PyTorch's convention (momentum 0.01, eps 1e-3)"
               if problem is None else problem)
    ok, other = attempt(result, f"MiniXception(bn_momentum={_OTHER_BN['bn_momentum']}, bn_eps={_OTHER_BN['bn_eps']})",
                        model_class, **_OTHER_BN)
    if not ok:
        return
    off = [(n, m) for n, m in batchnorms(other) if not (np.isclose(m.momentum or 0, _OTHER_BN["bn_momentum"])
                                                        and np.isclose(m.eps, _OTHER_BN["bn_eps"]))]
    result.add(not off, "bn_momentum and bn_eps reach every BatchNorm" if not off else
               f"with MiniXception(bn_momentum=0.05, bn_eps=0.002), '{off[0][0]}' has momentum={off[0][1].momentum}, "
               f"eps={off[0][1].eps:g}: it ignores the bn_momentum / bn_eps arguments (hard-coded values); pass the "
               "ones the block is given")


def _layer_kinds(result: CheckResult, model: nn.Module, stored: dict) -> bool:
    modules = dict(model.named_modules())
    problem = None
    for name, kind in stored.get("types_48", []):
        if kind not in _KINDS:
            continue
        cls, what, why = _KINDS[kind]
        if name not in modules:
            problem = (f"Figure 1's '{name}' is not a layer of your model: make it {what} named "
                       f"'{name.split('.')[-1]}' "
                       f"and call it in forward; {why}")
        elif not isinstance(modules[name], cls):
            problem = f"'{name}' is {type(modules[name]).__name__}; Figure 1 has {what} here"
        if problem:
            break
    extra = [n for n, m in modules.items() if isinstance(m, nn.modules.dropout._DropoutNd)]
    if problem is None and extra:
        problem = f"'{extra[0]}' is a {type(modules[extra[0]]).__name__} layer: Figure 1 has no dropout"
    return result.add(problem is None, "ReLU and pooling layers are the modules Figure 1 names" if problem is None
                      else problem)


def _shapes(result: CheckResult, model: nn.Module, stored: dict) -> bool:
    """Output shapes for a 48x48 face, compared layer by layer in Figure 1's order (also after a crash)."""
    shapes, order, error = shape_trace(model, torch.zeros(1, _in_channels(model), 48, 48))
    kinds = dict(stored.get("types_48", []))
    problem = None
    for name, shape in stored["shapes_48"]:
        module = name.replace(" (add)", "")
        got = shapes.get(module)
        if got is None and error is None:
            parent = name.rpartition(".")[0]
            while parent and parent not in shapes:         # the innermost block that does run
                parent = parent.rpartition(".")[0]
            problem = (f"'{name}' never runs in forward" + (f": look at how '{parent}' calls its layers" if parent
                                                            else "") + " (Figure 1 has it; the trained weights use "
                       "this name)")
            if kinds.get(name) in _KINDS:
                problem += f"; it must be {_KINDS[kinds[name]][1]}: {_KINDS[kinds[name]][2]}"
        elif got is None:
            last = f" after '{order[-1]}' output {shapes[order[-1]]}" if order else ""
            problem = (f"forward on a 48x48 face stops{last} with {type(error).__name__}: {error} (every layer before "
                       "it has Figure 1's output shape)")
        elif got != tuple(shape):
            problem = f"'{module}' outputs {got} for a 48x48 face; Figure 1 gives {tuple(shape)}"
        if problem:
            break
    return result.add(problem is None, "per-layer output shapes match Figure 1" if problem is None else problem)


def _in_channels(model: nn.Module) -> int:
    config = getattr(model, "config", None)
    return int(config.get("in_channels", 1)) if isinstance(config, dict) else 1


def _outputs(result: CheckResult, model: nn.Module, stored: dict) -> None:
    inputs = ref.emotion_inputs()
    random = random_in_training(model, inputs[:8])
    result.add(not random, "forward is deterministic in training mode" if not random else
               "two forward passes in training mode on the same faces give different outputs: Figure 1 has no dropout "
               "(or other randomness) in forward")
    ok, out = attempt(result, "forward on data/test", layer_trace, model, inputs)
    if not ok:
        return
    trace, logits = out
    diff = first_difference(trace, stored["trace"], weightless(model))
    want = np.array(stored["logits"])
    got = logits.double().numpy() if isinstance(logits, torch.Tensor) else None
    same = diff is None and got is not None and got.shape == want.shape and np.allclose(got, want, atol=2e-3)
    if diff is None and not same:
        shape = None if got is None else got.shape
        diff = (f"every layer's output matches, but forward returns values of shape {shape} "
                f"that are not the logits {want.shape}: return gap's output flattened, no softmax (CrossEntropyLoss "
                "applies it)")
    result.add(same, f"with the trained weights it reproduces the stored outputs on data/test "
               f"({len(stored['predicted'])} faces)" if same else f"with the trained weights, {diff}")


@guarded("Task 1 Q1")
def check_xception(result: CheckResult, model_class: type | None = None) -> None:
    """Task 1 Q1: the student's ``MiniXception`` against Figure 1 and the shipped trained weights."""
    model_class = model_class or xception.MiniXception
    stored = load_fingerprints()["emotion"]
    ok, model = attempt(result, "MiniXception()", model_class)
    if not ok:
        return
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    result.add(n == XCEPTION_PARAMETERS, f"trainable parameters: {n:,}" + (
        "" if n == XCEPTION_PARAMETERS else f" (Figure 1's model has {XCEPTION_PARAMETERS:,}; "
                                            f"{n - XCEPTION_PARAMETERS:+,})"))
    _bn_settings(result, model, model_class)
    _layer_kinds(result, model, stored)
    if not _shapes(result, model, stored):
        return
    path = ref.emotion_checkpoint()
    if not fresh(result, stored, path, ref.emotion_images()):
        return
    state = load_checkpoint(path)["state_dict"]
    mismatch = state_mismatch(model, state)
    if not result.add(mismatch is None, f"the trained checkpoint {path.name} loads strictly"
                      if mismatch is None else f"strict load of {path.name} fails: {mismatch}"):
        return
    model.load_state_dict(state, strict=True)
    _outputs(result, model, stored)
