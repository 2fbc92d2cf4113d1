"""Checks that teach: one call per assignment question, run in the notebook right after the student's part.

Each check prints what passed and, on a failure, what differs (a shape, a parameter count, the first layer whose
outputs differ from the trained model's, a gradient that accumulates) without showing the solution, and returns a
:class:`CheckResult`.

* :func:`check_xception` (Task 1 Q1): parameter count, the per-layer output shapes of Figure 1, BatchNorm settings,
  the shipped emotion checkpoint loading *strictly* and reproducing its stored outputs on ``data/test``;
* :func:`check_curves` (Task 1 Q2): ``plot_loss`` / ``plot_acc`` give one line per split, labelled axes, one point
  per epoch;
* :func:`check_fau_model` (Task 2 Q1-Q2): ``Bottleneck`` shapes, the shipped FAU checkpoint loading strictly and
  reproducing its stored ``test`` intensities, naming the first layer that differs otherwise;
* :func:`check_train_step` (Task 2 Q6): the step returns the loss, lowers it on a fixed tiny batch, and its
  gradients do not accumulate across steps.

The reference outputs live in ``facekit/checks_fingerprints.json`` (statistics of every layer's output on the test
faces and the final outputs, with the checkpoint's SHA-256), never recomputed from solution code at check time.
After the shipped checkpoints are retrained: ``python -m facekit.checks --refresh`` (in the instructor's checkout).
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

FINGERPRINTS = Path(__file__).with_name("checks_fingerprints.json")
#: Trainable parameters of Figure 1's mini-Xception (7 classes, grey input).
XCEPTION_PARAMETERS = 56_951
#: Keras' BatchNorm momentum 0.99 and epsilon 1e-3 in PyTorch's convention.
XCEPTION_BN = {"momentum": 0.01, "eps": 1e-3}
REFRESH = "python -m facekit.checks --refresh"
#: The file at the root of a student edition (``facekit student-edition`` writes it) and the line that opens a
#: solution region in an instructor's module.
STUDENT_EDITION_STAMP = ".facekit-student-edition"
SOLUTION_MARK = "### BEGIN SOLUTION"


@dataclass
class CheckResult:
    """The outcome of one question's check: ``items`` are (passed, text) in the order they were tried."""

    question: str
    items: list[tuple[bool, str]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.items) and all(ok for ok, _ in self.items)

    @property
    def failures(self) -> list[str]:
        return [text for ok, text in self.items if not ok]

    def add(self, ok: bool, text: str) -> bool:
        self.items.append((bool(ok), text))
        return bool(ok)

    def __str__(self) -> str:
        lines = [f"{'PASS' if ok else 'FAIL'}  {text}" for ok, text in self.items]
        n_ok = sum(ok for ok, _ in self.items)
        lines.append(f"{self.question}: {n_ok} of {len(self.items)} checks passed"
                     + ("." if self.passed else " - fix the first FAIL above, restart the kernel, run again."))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"CheckResult({self.question}: {'passed' if self.passed else 'failed: ' + self.failures[0][:80]})"


def _report(result: CheckResult, verbose: bool) -> CheckResult:
    if verbose:
        print(result)
    return result


def _not_done(result: CheckResult, what: str, exc: BaseException) -> CheckResult:
    if isinstance(exc, NotImplementedError):
        result.add(False, f"{what}: not written yet ({exc})")
    else:
        result.add(False, f"{what} raised {type(exc).__name__}: {exc}")
    return result


# --- fingerprints ----------------------------------------------------------------------------------------------

def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_fingerprints(path: str | Path | None = None) -> dict:
    path = Path(path or FINGERPRINTS)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the instructor creates it with `{REFRESH}`.")
    return json.loads(path.read_text(encoding="utf-8"))


def layer_trace(model: nn.Module, *inputs) -> tuple[list[list], torch.Tensor]:
    """Run ``model`` (eval mode, no grad) and record, for every named sub-module call in execution order,
    ``[name#k, mean, std]`` of its output (``k`` counts repeated calls of one module). Returns (trace, output)."""
    trace, counts, hooks = [], {}, []

    def hook(name):
        def record(_mod, _inp, out):
            if isinstance(out, torch.Tensor) and out.numel():
                k = counts.get(name, 0)
                counts[name] = k + 1
                o = out.detach().double()
                trace.append([f"{name}#{k}", float(o.mean()), float(o.std()) if o.numel() > 1 else 0.0])
        return record

    for name, module in model.named_modules():
        if name:
            hooks.append(module.register_forward_hook(hook(name)))
    try:
        model.eval()
        with torch.no_grad():
            out = model(*inputs)
    finally:
        for h in hooks:
            h.remove()
    return trace, out


def _close(a: float, b: float, scale: float, rtol: float = 2e-3) -> bool:
    return abs(a - b) <= rtol * abs(b) + rtol * abs(scale) + 1e-6


def weightless(model: nn.Module) -> set[str]:
    """Names of the sub-modules without parameters or buffers (ReLU, pooling): their output only reflects their input."""
    return {name for name, m in model.named_modules()
            if name and not any(True for _ in m.parameters()) and not any(True for _ in m.buffers())}


def first_difference(trace: list[list], expected: list[list], stateless: set[str] = frozenset()) -> str | None:
    """The first layer (in the student's execution order) whose output differs from the stored statistics, as a
    sentence; ``None`` when every stored layer was called and matches. ``stateless``: weightless layers (see
    :func:`weightless`), for which the message points at the block that feeds them."""
    want = {key: (mean, std) for key, mean, std in expected}
    seen = set()
    for key, mean, std in trace:
        name = key.split("#")[0]
        if key not in want:
            return (f"layer '{name}' is called more often than in the trained model or is not part of it"
                    if name in {k.split('#')[0] for k in want} else f"layer '{name}' is not in the trained model")
        seen.add(key)
        m, s = want[key]
        if not (_close(mean, m, s) and _close(std, s, s)):
            children = [k for k, *_ in trace[:trace.index([key, mean, std])] if k.startswith(name + ".")]
            hint = (f" Its sub-layers give the expected outputs, so look at how '{name}' combines them in forward "
                    "(order, activations, the shortcut)." if children and all(
                        k in want for k in children) else "")
            parent = name.rpartition(".")[0]
            if name in stateless and parent:
                nth = int(key.split("#")[1]) + 1
                hint = (f" '{name}' has no weights and every layer with weights before it matches, so what feeds its "
                        f"call no. {nth} differs: look at how '{parent}' combines its layers in forward "
                        "(order, activations, the shortcut).")
            return (f"the output of '{name}' differs from the trained model's (mean {mean:+.4f}, std {std:.4f}; "
                    f"expected mean {m:+.4f}, std {s:.4f}).{hint}")
    missing = [k for k, *_ in expected if k not in seen]
    if missing:
        return f"layer '{missing[0].split('#')[0]}' is never called in forward (the trained model uses it)."
    return None


def _state_mismatch(model: nn.Module, state: dict) -> str | None:
    """The first parameter/buffer (in layer order) that keeps a strict load from working, named, or ``None``."""
    own = model.state_dict()
    mine, theirs = list(own), list(state)
    for i, key in enumerate(mine):
        if key not in state:
            there = (f" where the trained model has '{theirs[i]}' {tuple(state[theirs[i]].shape)}"
                     if i < len(theirs) and theirs[i] not in own else "")
            return (f"your model has '{key}' {tuple(own[key].shape)}{there}; the trained checkpoint has no "
                    f"'{key}' (a layer too many, a missing one before it, or another name)")
        if tuple(own[key].shape) != tuple(state[key].shape):
            return (f"'{key}' has shape {tuple(own[key].shape)} in your model, {tuple(state[key].shape)} in the "
                    "trained checkpoint")
    for key in theirs:
        if key not in own:
            return f"the trained checkpoint has '{key}' but your model has no such weight (a missing layer or name)"
    return None


def _emotion_images() -> np.ndarray:
    from facekit.data.faces import load_face_folder
    from facekit.paths import data_dir

    return np.ascontiguousarray(load_face_folder(data_dir("test"), size=48, detect=False).images)


def _emotion_inputs() -> torch.Tensor:
    from facekit.emotion.xception import preprocess

    return preprocess(torch.as_tensor(_emotion_images()))


def _fau_images(config) -> np.ndarray:
    from facekit.fau.data import load_test_faces

    return np.ascontiguousarray(load_test_faces("test", size=config.input_size).images)


def _fau_inputs(config) -> torch.Tensor:
    from facekit.fau.data import to_input

    return to_input(_fau_images(config), config.in_channels, config.input_size)


def _images_sha(images: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest()


def _emotion_checkpoint() -> Path:
    from facekit.emotion.checkpoint import CHECKPOINT_NAME
    from facekit.paths import shipped_checkpoint_dir

    return shipped_checkpoint_dir() / CHECKPOINT_NAME


def _fau_checkpoint() -> Path:
    from facekit.paths import shipped_checkpoint_dir

    return shipped_checkpoint_dir() / "fau_resnet.pt"


def compute_fingerprints() -> dict:
    """The reference outputs of the shipped checkpoints with this checkout's model code (the instructor's)."""
    from facekit.emotion.xception import MiniXception, layer_table
    from facekit.fau.heatmaps import read_intensities
    from facekit.fau.model import load_fau_model
    from facekit.io import load_checkpoint

    path = _emotion_checkpoint()
    ckpt = load_checkpoint(path)
    model = MiniXception(**ckpt.get("config", {}))
    model.load_state_dict(ckpt["state_dict"], strict=True)
    trace, logits = layer_trace(model, _emotion_inputs())
    shapes = layer_table(MiniXception(), 48)
    emotion = {"checkpoint": path.name, "sha256": _sha256(path), "inputs": "data/test, 48x48, no face detection",
               "inputs_sha256": _images_sha(_emotion_images()),
               "shapes_48": [[n, list(s)] for n, s in zip(shapes["name"], shapes["output_shape"]) if n != "total"],
               "trace": trace, "logits": logits.double().tolist(), "predicted": logits.argmax(1).tolist()}
    path = _fau_checkpoint()
    fau_model = load_fau_model(path)
    trace, heatmaps = layer_trace(fau_model, _fau_inputs(fau_model.config))
    fau = {"checkpoint": path.name, "sha256": _sha256(path), "inputs": "data/fau/test at the checkpoint's input size",
           "inputs_sha256": _images_sha(_fau_images(fau_model.config)),
           "trace": trace, "intensities": read_intensities(heatmaps).double().tolist()}
    return {"emotion": emotion, "fau": fau}


def refresh_fingerprints(path: str | Path | None = None) -> Path:
    """Recompute and store the fingerprints (atomically). Refuses to run in a student edition."""
    from facekit.io import atomic_write_text
    from facekit.paths import repo_root

    root = repo_root()
    has_solutions = any(SOLUTION_MARK in p.read_text(encoding="utf-8") for p in (root / "facekit").rglob("*.py"))
    if (root / STUDENT_EDITION_STAMP).exists() or not has_solutions:
        raise RuntimeError(f"{root} is a student edition (or has no solution regions): refresh the fingerprints in "
                           "the instructor's checkout, whose facekit holds the reference solutions.")
    return atomic_write_text(path or FINGERPRINTS, json.dumps(compute_fingerprints(), indent=1) + "\n")


def _fresh(result: CheckResult, stored: dict, path: Path, images: np.ndarray) -> bool:
    """False (with a message for the instructor) when the checkpoint or the test faces changed since the refresh."""
    if stored.get("sha256") != _sha256(path):
        return result.add(False, f"the stored fingerprints belong to another {path.name} (it was retrained): "
                                 f"your instructor must run `{REFRESH}`; this part cannot be checked now.")
    if stored.get("inputs_sha256") != _images_sha(images):
        return result.add(False, f"the test faces ({stored.get('inputs')}) changed since the fingerprints were "
                                 f"stored (they were regenerated): your instructor must run `{REFRESH}`; this part "
                                 "cannot be checked now.")
    return True


# --- Task 1 ----------------------------------------------------------------------------------------------------

def check_xception(model_class: type | None = None, verbose: bool = True) -> CheckResult:
    """Task 1 Q1: the student's ``MiniXception`` against Figure 1 and the shipped trained weights."""
    from facekit.emotion.xception import layer_table
    from facekit.io import load_checkpoint

    if model_class is None:
        from facekit.emotion.xception import MiniXception as model_class
    result = CheckResult("Task 1 Q1")
    stored = load_fingerprints()["emotion"]
    try:
        model = model_class()
    except Exception as exc:                               # noqa: BLE001 - shown to the student
        return _report(_not_done(result, "MiniXception()", exc), verbose)
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    result.add(n == XCEPTION_PARAMETERS, f"trainable parameters: {n:,}" + (
        "" if n == XCEPTION_PARAMETERS else f" (Figure 1's model has {XCEPTION_PARAMETERS:,}; "
                                            f"{n - XCEPTION_PARAMETERS:+,})"))
    try:
        table = layer_table(model, 48)
    except Exception as exc:                               # noqa: BLE001
        return _report(_not_done(result, "forward on a 48x48 face", exc), verbose)
    got = {name: tuple(shape) for name, shape in zip(table["name"], table["output_shape"])}
    problem = None
    for name, shape in stored["shapes_48"]:
        if name not in got:
            problem = f"no layer '{name}' runs in forward (Figure 1 has it; the trained weights use this name)"
        elif got[name] != tuple(shape):
            problem = f"'{name}' outputs {got[name]} for a 48x48 face; Figure 1 gives {tuple(shape)}"
        if problem:
            break
    result.add(problem is None, "per-layer output shapes match Figure 1" if problem is None else problem)
    bns = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    wrong = [(name, m) for name, m in bns if not (np.isclose(m.momentum or 0, XCEPTION_BN["momentum"])
                                                  and np.isclose(m.eps, XCEPTION_BN["eps"]))]
    result.add(bns and not wrong, f"{len(bns)} BatchNorm layers with Keras' settings in PyTorch's convention"
               if bns and not wrong else (f"'{wrong[0][0]}' has momentum={wrong[0][1].momentum}, eps={wrong[0][1].eps}: "
               "PyTorch's momentum is the weight of the *new* batch (Keras' is the weight of the old statistic), "
               "and the block should use the bn_momentum / bn_eps it is given" if wrong else "no BatchNorm layers"))
    path = _emotion_checkpoint()
    if not _fresh(result, stored, path, _emotion_images()):
        return _report(result, verbose)
    state = load_checkpoint(path)["state_dict"]
    mismatch = _state_mismatch(model, state)
    if not result.add(mismatch is None, f"the trained checkpoint {path.name} loads strictly"
                      if mismatch is None else f"strict load of {path.name} fails: {mismatch}"):
        return _report(result, verbose)
    model.load_state_dict(state, strict=True)
    try:
        trace, logits = layer_trace(model, _emotion_inputs())
    except Exception as exc:                               # noqa: BLE001
        return _report(_not_done(result, "forward on data/test", exc), verbose)
    diff = first_difference(trace, stored["trace"], weightless(model))
    same = diff is None and np.allclose(logits.double().numpy(), np.array(stored["logits"]), atol=2e-3)
    result.add(same, f"with the trained weights it reproduces the stored outputs on data/test "
               f"({len(stored['predicted'])} faces)" if same else f"with the trained weights, {diff or 'the logits differ'}")
    return _report(result, verbose)


def _history(epochs: int = 3):
    import pandas as pd

    e = np.arange(1, epochs + 1)
    cols = {"epoch": e}
    for i, split in enumerate(("train", "public", "private")):
        cols[f"{split}_loss"] = 1.9 - 0.2 * e - 0.05 * i
        cols[f"{split}_acc"] = 0.2 + 0.1 * e - 0.02 * i
    return pd.DataFrame(cols)


def _curve_problems(fig, history, metric: str, what: str) -> list[str]:
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        return [f"{what} returned {type(fig).__name__}, not a matplotlib Figure"]
    if not fig.axes:
        return [f"{what}: the figure has no axes"]
    ax = fig.axes[0]
    epochs = history["epoch"].to_numpy(float)
    columns = {f"{s}_{metric}": history[f"{s}_{metric}"].to_numpy(float) for s in ("train", "public", "private")}
    over_epochs = [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 2 or np.ptp(np.asarray(ln.get_ydata(),
                                                                                               float)) > 0]
    problems = []
    shown = []
    for ln in over_epochs:
        x, y = np.asarray(ln.get_xdata(), float), np.asarray(ln.get_ydata(), float)
        if len(x) != len(epochs):
            problems.append(f"{what}: a line has {len(x)} points, the history has {len(epochs)} epochs")
            continue
        match = [c for c, v in columns.items() if np.allclose(y, v)]
        if not np.allclose(x, epochs):
            problems.append(f"{what}: a line is not drawn against the 'epoch' column")
        elif not match:
            problems.append(f"{what}: a line shows none of the columns " + ", ".join(columns))
        else:
            shown += match
            if not ln.get_label() or ln.get_label().startswith("_"):
                problems.append(f"{what}: the line of {match[0]} has no label for the legend")
    missing = [c for c in columns if c not in shown]
    if missing:
        problems.append(f"{what}: {len(set(shown))} of 3 splits drawn; missing {', '.join(missing)}")
    if len(shown) != len(set(shown)):
        problems.append(f"{what}: a split is drawn more than once")
    if not ax.get_xlabel() or not ax.get_ylabel():
        problems.append(f"{what}: label both axes (x: '{ax.get_xlabel()}', y: '{ax.get_ylabel()}')")
    if ax.get_legend() is None:
        problems.append(f"{what}: no legend, so the splits cannot be told apart")
    return problems


def check_curves(plot_loss=None, plot_acc=None, verbose: bool = True) -> CheckResult:
    """Task 1 Q2: ``plot_loss`` / ``plot_acc`` on a made-up 3-epoch history."""
    import matplotlib.pyplot as plt

    if plot_loss is None or plot_acc is None:
        from facekit.emotion import plots
        plot_loss, plot_acc = plot_loss or plots.plot_loss, plot_acc or plots.plot_acc
    result = CheckResult("Task 1 Q2")
    history = _history()
    for what, func, metric, kwargs in (("plot_loss(history)", plot_loss, "loss", {}),
                                       ("plot_acc(history, chance=0.25)", plot_acc, "acc", {"chance": 0.25})):
        try:
            fig = func(history, **kwargs)
        except Exception as exc:                           # noqa: BLE001
            _not_done(result, what, exc)
            continue
        problems = _curve_problems(fig, history, metric, what)
        if kwargs and not problems:
            flat = [ln for ln in fig.axes[0].get_lines() if np.allclose(np.asarray(ln.get_ydata(), float), 0.25)]
            if not flat:
                problems.append(f"{what}: no reference line at the chance level 0.25")
        result.add(not problems, f"{what}: one labelled line per split (train, PublicTest, PrivateTest), one point "
                                 "per epoch, labelled axes, a legend" if not problems else problems[0])
        plt.close(fig) if hasattr(fig, "axes") else None
    return _report(result, verbose)


# --- Task 2 ----------------------------------------------------------------------------------------------------

def check_fau_model(verbose: bool = True) -> CheckResult:
    """Task 2 Q1-Q2: ``Bottleneck`` and ``_make_deconv_layer`` (``facekit.fau.model``) against the shipped weights."""
    from facekit.fau import model as fm
    from facekit.fau.heatmaps import read_intensities
    from facekit.io import load_checkpoint

    result = CheckResult("Task 2 Q1-Q2")
    stored = load_fingerprints()["fau"]
    try:
        down = nn.Sequential(nn.Conv2d(64, 128, 1, stride=2, bias=False), nn.BatchNorm2d(128))
        block = fm.Bottleneck(64, 32, stride=2, downsample=down).eval()
        with torch.no_grad():
            shape = tuple(block(torch.rand(2, 64, 16, 16)).shape)
    except Exception as exc:                               # noqa: BLE001
        return _report(_not_done(result, "Bottleneck(64, 32, stride=2, downsample=...)", exc), verbose)
    result.add(shape == (2, 128, 8, 8), "Bottleneck(64, 32, stride=2) maps (2, 64, 16, 16) to (2, 128, 8, 8)"
               if shape == (2, 128, 8, 8) else
               f"Bottleneck(64, 32, stride=2) maps (2, 64, 16, 16) to {shape}; expected (2, 128, 8, 8) "
               "(expansion 4, the stride in the 3x3)")
    path = _fau_checkpoint()
    ckpt = load_checkpoint(path)
    if not _fresh(result, stored, path, _fau_images(fm.FAUConfig.from_dict(ckpt["config"]))):
        return _report(result, verbose)
    try:
        model = fm.build_fau_model(fm.FAUConfig.from_dict(ckpt["config"]))
    except Exception as exc:                               # noqa: BLE001
        return _report(_not_done(result, "build_fau_model (ResNet with your Bottleneck and deconv head)", exc), verbose)
    mismatch = _state_mismatch(model, ckpt["state_dict"])
    if not result.add(mismatch is None, f"the trained checkpoint {path.name} loads strictly"
                      if mismatch is None else f"strict load of {path.name} fails: {mismatch}"):
        return _report(result, verbose)
    model.load_state_dict(ckpt["state_dict"], strict=True)
    try:
        trace, heatmaps = layer_trace(model, _fau_inputs(model.config))
    except Exception as exc:                               # noqa: BLE001
        return _report(_not_done(result, "forward on data/fau/test", exc), verbose)
    diff = first_difference(trace, stored["trace"], weightless(model))
    got = read_intensities(heatmaps).double().numpy()
    same = diff is None and got.shape == np.array(stored["intensities"]).shape and np.allclose(
        got, np.array(stored["intensities"]), atol=2e-3)
    result.add(same, f"with the trained weights it reproduces the stored AU intensities of the {len(got)} test "
               "subjects" if same else f"with the trained weights, {diff or 'the AU intensities differ'}")
    return _report(result, verbose)


class _RecordingSGD(torch.optim.SGD):
    """SGD that keeps a copy of the gradients it was asked to apply at every ``step``."""

    def __init__(self, params, lr):
        super().__init__(params, lr=lr)
        self.seen: list[list[torch.Tensor | None]] = []

    def step(self, closure=None):
        self.seen.append([None if p.grad is None else p.grad.detach().clone()
                          for g in self.param_groups for p in g["params"]])
        return super().step(closure)


def _tiny_problem():
    gen = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 3, padding=1))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    images = torch.rand(4, 1, 8, 8, generator=gen)
    targets = torch.rand(4, 2, 8, 8, generator=gen)
    return model, images, targets


def check_train_step(train_step=None, verbose: bool = True) -> CheckResult:
    """Task 2 Q6: ``facekit.fau.train.train_step`` (or ``train_step``) on a fixed tiny model and batch."""
    if train_step is None:
        from facekit.fau.train import train_step
    result = CheckResult("Task 2 Q6")
    model, images, targets = _tiny_problem()
    frozen = copy.deepcopy(model)
    loss_fn = nn.MSELoss()
    before = loss_fn(frozen(images), targets)
    loss_before = float(before.detach())
    expected = torch.autograd.grad(before, list(frozen.parameters()))
    opt = _RecordingSGD(model.parameters(), lr=0.0)        # lr 0: the weights stay put, so both steps see one gradient
    try:
        returned = [train_step(model, images, targets, opt) for _ in range(2)]
    except Exception as exc:                               # noqa: BLE001
        return _report(_not_done(result, "train_step(model, images, targets, optimizer)", exc), verbose)
    ok = isinstance(returned[0], (float, int)) and abs(float(returned[0]) - loss_before) < 1e-5
    result.add(ok, "returns the batch's loss as a float" if ok else
               f"train_step returned {returned[0]!r}; the batch's loss is {loss_before:.6f} (return it as a float)")
    if not result.add(len(opt.seen) == 2, "calls optimizer.step() once per step" if len(opt.seen) == 2 else
                      f"optimizer.step() was called {len(opt.seen)} times in 2 calls of train_step"):
        return _report(result, verbose)
    first, second = opt.seen
    if not result.add(all(g is not None for g in first), "the optimizer finds gradients when it steps"
                      if all(g is not None for g in first) else
                      "no gradients when the optimizer stepped: differentiate the loss before the step"):
        return _report(result, verbose)
    right = all(torch.allclose(g, e, rtol=1e-4, atol=1e-7) for g, e in zip(first, expected))
    result.add(right, "the gradient is the gradient of this batch's loss" if right else
               "the gradient at the first step is not the gradient of this batch's loss")
    ratio = float(sum((g2 * g1).sum() for g1, g2 in zip(first, second)) / sum((g1 * g1).sum() for g1 in first))
    result.add(abs(ratio - 1) < 1e-3, "gradients do not accumulate across steps" if abs(ratio - 1) < 1e-3 else
               f"on the same batch with unchanged weights, the second step's gradient is {ratio:.2f}x the first's: "
               "gradients accumulate across steps; clear them in every step")
    model, images, targets = _tiny_problem()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    start = float(loss_fn(model(images), targets).detach())
    try:
        for _ in range(20):
            train_step(model, images, targets, opt)
    except Exception as exc:                               # noqa: BLE001
        return _report(_not_done(result, "20 training steps", exc), verbose)
    end = float(loss_fn(model(images), targets).detach())
    result.add(end < 0.9 * start, f"20 steps on one fixed batch lower the loss ({start:.4f} -> {end:.4f})"
               if end < 0.9 * start else f"20 steps on one fixed batch do not lower the loss ({start:.4f} -> {end:.4f})")
    return _report(result, verbose)


#: One check per question.
CHECKS = {"T1.Q1": check_xception, "T1.Q2": check_curves, "T2.Q1": check_fau_model, "T2.Q2": check_fau_model,
          "T2.Q6": check_train_step}


def check_all(verbose: bool = True) -> dict[str, CheckResult]:
    out = {}
    for question, func in CHECKS.items():
        if func not in [CHECKS[q] for q in out]:
            out[question] = func(verbose=verbose)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m facekit.checks", description=__doc__.splitlines()[0])
    parser.add_argument("--refresh", action="store_true",
                        help="recompute the stored reference outputs from the shipped checkpoints (instructors)")
    args = parser.parse_args(argv)
    if args.refresh:
        print(f"wrote {refresh_fingerprints()}")
        return 0
    results = check_all()
    return 0 if all(r.passed for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
