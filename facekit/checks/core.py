"""What every check shares: the result type, the guard that keeps a student's object from crashing a check, the stored
reference outputs (fingerprints), and the layer-by-layer traces (output shapes, output statistics) compared to them."""
from __future__ import annotations

import copy
import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

FINGERPRINTS = Path(__file__).resolve().parents[1] / "checks_fingerprints.json"
#: The command that recomputes the fingerprints (instructors; the edition tooling provides it).
REFRESH = "facekit refresh-fingerprints"


class CheckFailed(AssertionError):
    """Raised by :meth:`CheckResult.raise_if_failed` (the graded cells of the nbgrader course)."""


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

    def raise_if_failed(self) -> "CheckResult":
        """Raise :class:`CheckFailed` (an AssertionError) naming the first failure; return ``self`` when it passed."""
        if not self.passed:
            raise CheckFailed(f"{self.question}: {self.failures[0] if self.failures else 'nothing was checked'}")
        return self

    def __str__(self) -> str:
        lines = [f"{'PASS' if ok else 'FAIL'}  {text}" for ok, text in self.items]
        n_ok = sum(ok for ok, _ in self.items)
        lines.append(f"{self.question}: {n_ok} of {len(self.items)} checks passed"
                     + ("." if self.passed else " - fix the first FAIL above, restart the kernel, run again."))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"CheckResult({self.question}: {'passed' if self.passed else 'failed: ' + self.failures[0][:80]})"


def guarded(question: str):
    """Decorator for a check body ``body(result, *args)``: it gets a fresh :class:`CheckResult`, and whatever the
    student's object does (raise, return something odd), the check returns a result instead of crashing; with
    ``verbose`` it prints it."""
    def wrap(body):
        @functools.wraps(body)
        def check(*args, verbose: bool = True, **kwargs) -> CheckResult:
            result = CheckResult(question)
            try:
                body(result, *args, **kwargs)
            except Exception as exc:                       # noqa: BLE001 - a check reports, it never crashes
                _not_done(result, "your code", exc)
            if verbose:
                print(result)
            return result
        return check
    return wrap


def _not_done(result: CheckResult, what: str, exc: BaseException) -> CheckResult:
    if isinstance(exc, NotImplementedError):
        result.add(False, f"{what}: not written yet ({exc})")
    else:
        result.add(False, f"{what} raised {type(exc).__name__}: {exc}")
    return result


def attempt(result: CheckResult, what: str, func, *args, **kwargs):
    """``(True, func(*args))``, or ``(False, None)`` with a FAIL naming ``what`` when the student's code raises."""
    try:
        return True, func(*args, **kwargs)
    except Exception as exc:                               # noqa: BLE001 - shown to the student
        _not_done(result, what, exc)
        return False, None


# --- fingerprints ----------------------------------------------------------------------------------------------

def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_fingerprints(path: str | Path | None = None) -> dict:
    path = Path(path or FINGERPRINTS)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the instructor creates it with `{REFRESH}`.")
    return json.loads(path.read_text(encoding="utf-8"))


def images_sha(images: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest()


def fresh(result: CheckResult, stored: dict, path: Path, images: np.ndarray) -> bool:
    """False (with a message for the instructor) when the checkpoint or the test faces changed since the refresh."""
    if stored.get("sha256") != sha256(path):
        return result.add(False, f"the stored fingerprints belong to another {path.name} (it was retrained): "
                                 f"your instructor must run `{REFRESH}`; this part cannot be checked now.")
    if stored.get("inputs_sha256") != images_sha(images):
        return result.add(False, f"the test faces ({stored.get('inputs')}) changed since the fingerprints were "
                                 f"stored (they were regenerated): your instructor must run `{REFRESH}`; this part "
                                 "cannot be checked now.")
    return True


# --- traces ----------------------------------------------------------------------------------------------------

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


def shape_trace(model: nn.Module, x: torch.Tensor) -> tuple[dict[str, tuple], list[str], BaseException | None]:
    """Run ``model`` on ``x`` (eval mode, no grad) recording each named sub-module's first output shape (without the
    batch axis). Returns (shapes, names in call order, the exception forward raised or None): the shapes recorded
    before a crash still name the first layer whose output is off."""
    shapes, order, hooks = {}, [], []

    def hook(name):
        def record(_mod, _inp, out):
            if isinstance(out, torch.Tensor) and name not in shapes:
                shapes[name] = tuple(out.shape[1:])
                order.append(name)
        return record

    for name, module in model.named_modules():
        if name:
            hooks.append(module.register_forward_hook(hook(name)))
    error = None
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    except Exception as exc:                               # noqa: BLE001 - reported with the shapes seen so far
        error = exc
    finally:
        for h in hooks:
            h.remove()
    return shapes, order, error


def _close(a: float, b: float, scale: float, rtol: float = 2e-3) -> bool:
    return abs(a - b) <= rtol * abs(b) + rtol * abs(scale) + 1e-6


def weightless(model: nn.Module) -> set[str]:
    """Names of the sub-modules without parameters or buffers (ReLU, pooling): their output only reflects their
    input."""
    return {name for name, m in model.named_modules()
            if name and not any(True for _ in m.parameters()) and not any(True for _ in m.buffers())}


def first_difference(trace: list[list], expected: list[list], stateless: set[str] = frozenset(),
                     optional=None) -> str | None:
    """The first layer (in the student's execution order) whose output differs from the stored statistics, as a
    sentence; ``None`` when every stored layer was called and matches. ``stateless``: weightless layers (see
    :func:`weightless`), for which the message points at the block that feeds them. ``optional(name)``: true for
    stored layers that may be missing and student layers that may be extra (weightless ones where nothing needs a
    module, e.g. a functional ReLU); their outputs are not compared."""
    optional = optional or (lambda name: False)
    want = {key: (mean, std) for key, mean, std in expected}
    stored_names = {k.split("#")[0] for k in want}
    seen = set()
    for i, (key, mean, std) in enumerate(trace):
        name = key.split("#")[0]
        if optional(name) and key not in want:             # e.g. relu1..relu3 where the trained model has one relu
            seen.add(key)
            continue
        if key not in want:
            return (f"layer '{name}' is called more often than in the trained model or is not part of it"
                    if name in stored_names else f"layer '{name}' is not in the trained model")
        seen.add(key)
        m, s = want[key]
        if not (_close(mean, m, s) and _close(std, s, s)):
            return (f"the output of '{name}' differs from the trained model's (mean {mean:+.4f}, std {std:.4f}; "
                    f"expected mean {m:+.4f}, std {s:.4f}).{_hint(trace[:i], want, key, stateless)}")
    missing = [k for k, *_ in expected if k not in seen and not optional(k.split("#")[0])]
    if missing:
        return f"layer '{missing[0].split('#')[0]}' is never called in forward (the trained model uses it)."
    return None


def _hint(before: list[list], want: dict, key: str, stateless: set[str]) -> str:
    name = key.split("#")[0]
    parent = name.rpartition(".")[0]
    if name in stateless and parent:
        nth = int(key.split("#")[1]) + 1
        return (f" '{name}' has no weights and every layer with weights before it matches, so what feeds its call "
                f"no. {nth} differs: look at how '{parent}' combines its layers in forward (order, activations, "
                "the shortcut).")
    children = [k for k, *_ in before if k.startswith(name + ".")]
    if children and all(k in want for k in children):
        return (f" Its sub-layers give the expected outputs, so look at how '{name}' combines them in forward "
                "(order, activations, the shortcut).")
    return ""


def state_mismatch(model: nn.Module, state: dict) -> str | None:
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


def batchnorms(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def momentum_problem(name: str, bn: nn.Module, want: float, given_as: str) -> str | None:
    """Why ``bn``'s momentum is not ``want`` (the value the code was given as ``given_as``), or ``None``."""
    got = bn.momentum
    if got is not None and np.isclose(got, want):
        return None
    if got is not None and got >= 0.5:
        return (f"'{name}' has momentum={got:g} where {given_as} is {want:g}: a momentum near 1 is Keras' convention "
                f"(the weight of the old statistic); PyTorch's momentum is the weight of the new batch, so pass "
                f"{given_as} as given")
    return f"'{name}' has momentum={got} where {given_as} is {want:g}: pass {given_as} to every BatchNorm2d"


def random_in_training(model: nn.Module, x: torch.Tensor) -> bool:
    """True when two forward passes in training mode on the same input differ (dropout or other randomness)."""
    twin = copy.deepcopy(model).train()
    with torch.no_grad():
        torch.manual_seed(0)
        a = twin(x)
        torch.manual_seed(1)
        b = twin(x)
    return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape and not torch.allclose(
        a, b, atol=1e-6)
