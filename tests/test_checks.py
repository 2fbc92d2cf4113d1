"""facekit.checks: every check passes on the reference, and fails with its message on the stub of the student edition
and on plausible wrong implementations (missing residual, Keras' BatchNorm momentum copied, missing zero_grad...)."""
from __future__ import annotations

import importlib.util
import json
import sys
import types

import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

from facekit import checks
from facekit.checks import core as checks_core
from facekit_tools import edition, edition_fingerprints
from facekit.emotion import plots
from facekit.emotion.xception import MiniXception
from facekit.fau import model as fm
from facekit.fau import train as fau_train
from facekit.fau.train import train_step
from facekit.paths import repo_root

from check_cases import CORRECT, QUESTION, WRONG, _bind, _xception, run_case

matplotlib.use("Agg")


def stub_module(rel_path: str, monkeypatch) -> types.ModuleType:
    """The student edition's version of a facekit module (its solution regions replaced by the stubs)."""
    text, regions = edition.strip_solutions((repo_root() / rel_path).read_text(encoding="utf-8"), rel_path)
    assert regions, f"{rel_path} has no solution regions"
    name = "student_" + rel_path.replace("/", "_").removesuffix(".py")
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(name, loader=None))
    monkeypatch.setitem(sys.modules, name, module)
    exec(compile(text, rel_path, "exec"), module.__dict__)
    return module


def failed_with(result: checks.CheckResult, *words: str) -> str:
    assert not result.passed, f"the check passed but should fail: {result}"
    text = " ".join(result.failures)
    for word in words:
        assert word in text, f"expected {word!r} in the failure: {text}"
    return text


# --- the reference ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("check", [checks.check_xception, checks.check_curves, checks.check_class_weights,
                                   checks.check_fau_model,
                                   checks.check_train_step], ids=lambda f: f.__name__)
def test_reference_passes(check, capsys):
    result = check()
    assert result.passed, str(result)
    out = capsys.readouterr().out
    assert "PASS" in out and "FAIL" not in out


def test_fingerprints_are_fresh():
    """Fails when the shipped checkpoints were retrained (or the reference changed) without refreshing."""
    stored = checks.load_fingerprints()
    now = checks.compute_fingerprints()
    hint = f"the stored check fingerprints are stale: run `{checks.REFRESH}` and commit facekit/checks_fingerprints.json"
    for part in ("emotion", "fau"):
        assert now[part]["sha256"] == stored[part]["sha256"], f"{part}: {hint}"
        assert now[part]["inputs_sha256"] == stored[part]["inputs_sha256"], f"{part}: {hint}"
        assert checks.first_difference(now[part]["trace"], stored[part]["trace"]) is None, f"{part}: {hint}"
    assert now["emotion"]["shapes_48"] == stored["emotion"]["shapes_48"], hint
    assert now["emotion"]["types_48"] == stored["emotion"]["types_48"], hint
    assert now["emotion"]["predicted"] == stored["emotion"]["predicted"], hint


@pytest.mark.parametrize("part,field,check,reason", [
    ("emotion", "sha256", "check_xception", "retrained"),          # the shipped checkpoint was retrained
    ("fau", "inputs_sha256", "check_fau_model", "test faces"),      # the test faces were regenerated
])
def test_stale_fingerprints_say_so(tmp_path, monkeypatch, part, field, check, reason):
    stored = checks.load_fingerprints()
    stored[part][field] = "0" * 64
    path = tmp_path / "fp.json"
    path.write_text(json.dumps(stored))
    monkeypatch.setattr(checks_core, "FINGERPRINTS", path)
    failed_with(getattr(checks, check)(verbose=False), "refresh-fingerprints", reason)


def test_refresh_refuses_a_student_edition(tmp_path, monkeypatch):
    (tmp_path / "facekit").mkdir()
    (tmp_path / "facekit" / "__init__.py").write_text("")
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / edition.STAMP).write_text("")
    monkeypatch.setenv("FACEKIT_ROOT", str(tmp_path))
    with pytest.raises(RuntimeError, match="student edition"):
        edition_fingerprints.refresh_fingerprints(tmp_path / "fp.json")
    assert not (tmp_path / "fp.json").exists()


# --- Task 1 Q1 -------------------------------------------------------------------------------------------------

def test_xception_stub_fails_with_its_message(monkeypatch):
    stub = stub_module("facekit/emotion/xception.py", monkeypatch)
    failed_with(checks.check_xception(stub.MiniXception, verbose=False), "not written yet", "Task 1 Q1")


def _no_residual(self, x):
    return self.pool(self.bn2(self.sep2(self.relu(self.bn1(self.sep1(x))))))


class NoResidual(MiniXception):
    def __init__(self, **kw):
        super().__init__(**kw)
        for block in self.blocks:
            block.forward = types.MethodType(_no_residual, block)


class KerasMomentum(MiniXception):
    """The public starter's bug: Keras' momentum=0.99 copied into PyTorch."""

    def __init__(self, **kw):
        super().__init__(**{**kw, "bn_momentum": 0.99})


class PaddedStem(MiniXception):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.stem.conv1.padding = (1, 1)


class NoBiasHead(MiniXception):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.last_conv = nn.Conv2d(128, 7, 3, padding=1, bias=False)


def test_xception_missing_residual_names_the_block():
    text = failed_with(checks.check_xception(NoResidual, verbose=False), "'block1.shortcut.conv' never runs",
                       "how 'block1' calls")
    assert "56,951" in str(checks.check_xception(NoResidual, verbose=False))   # what still passes is said too


def test_xception_keras_momentum_is_caught():
    failed_with(checks.check_xception(KerasMomentum, verbose=False), "momentum=0.99")


def test_xception_wrong_padding_names_the_layer_and_shape():
    failed_with(checks.check_xception(PaddedStem, verbose=False), "'stem.conv1' outputs (8, 48, 48)")


def test_xception_missing_bias_fails_count_and_strict_load():
    text = failed_with(checks.check_xception(NoBiasHead, verbose=False), "56,944", "last_conv.bias", "strict load")
    assert "Figure 1's model has 56,951" in text


# --- Task 1 Q2 -------------------------------------------------------------------------------------------------

def test_curves_stub_fails_with_its_message(monkeypatch):
    stub = stub_module("facekit/emotion/plots.py", monkeypatch)
    failed_with(checks.check_curves(stub.plot_loss, stub.plot_acc, verbose=False), "Task 1 Q2", "not written yet")


def _train_only(history, chance=None):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot(history["epoch"], history["train_loss"], label="train")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    return fig


def _no_labels(history, chance=None):
    fig = plots.plot_acc(history, chance)
    fig.axes[0].set_xlabel("")
    return fig


def test_curves_one_split_only_is_caught():
    failed_with(checks.check_curves(_train_only, plots.plot_acc, verbose=False), "1 of 3 splits", "public_loss")


def test_curves_unlabelled_axes_are_caught():
    failed_with(checks.check_curves(plots.plot_loss, _no_labels, verbose=False), "label both axes")


# --- Task 2 Q1-Q2 ----------------------------------------------------------------------------------------------

def test_fau_stub_fails_with_its_message(monkeypatch):
    stub = stub_module("facekit/fau/model.py", monkeypatch)
    monkeypatch.setattr(fm, "Bottleneck", stub.Bottleneck)
    failed_with(checks.check_fau_model(verbose=False), "Task 2 Q1", "not written yet")


def test_fau_deconv_stub_fails_with_its_message(monkeypatch):
    stub = stub_module("facekit/fau/model.py", monkeypatch)
    monkeypatch.setattr(fm.ResNet, "_make_deconv_layer", stub.ResNet._make_deconv_layer)
    failed_with(checks.check_fau_model(verbose=False), "Task 2 Q2", "not written yet")


def test_fau_missing_residual_names_the_first_block(monkeypatch):
    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)))

    monkeypatch.setattr(fm.Bottleneck, "forward", forward)
    failed_with(checks.check_fau_model(verbose=False), "'layer1.0.relu'", "look at how 'layer1.0' combines")


def test_fau_deconv_without_batchnorm_names_the_layer(monkeypatch):
    def make(self, num_layers, num_filters, num_kernels):
        layers = []
        for planes, kernel in zip(num_filters, num_kernels):
            layers += [nn.ConvTranspose2d(self.inplanes, planes, kernel, stride=2, padding=1, bias=False),
                       nn.ReLU(inplace=True)]
            self.inplanes = planes
        return nn.Sequential(*layers)

    monkeypatch.setattr(fm.ResNet, "_make_deconv_layer", make)
    failed_with(checks.check_fau_model(verbose=False), "deconvolution head has no BatchNorm")


# --- Task 2 Q6 -------------------------------------------------------------------------------------------------

def test_train_step_stub_fails_with_its_message(monkeypatch):
    stub = stub_module("facekit/fau/train.py", monkeypatch)
    failed_with(checks.check_train_step(stub.train_step, verbose=False), "Task 2 Q6", "not written yet")


def _without_zero_grad(model, images, targets, optimizer, loss_fn=None, points=None):
    loss = (loss_fn or nn.MSELoss())(model(images), targets)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def _without_step(model, images, targets, optimizer, loss_fn=None, points=None):
    optimizer.zero_grad()
    loss = (loss_fn or nn.MSELoss())(model(images), targets)
    loss.backward()
    return float(loss.detach())


def _without_backward(model, images, targets, optimizer, loss_fn=None, points=None):
    optimizer.zero_grad()
    loss = (loss_fn or nn.MSELoss())(model(images), targets)
    optimizer.step()
    return float(loss.detach())


def test_train_step_without_zero_grad_accumulates():
    failed_with(checks.check_train_step(_without_zero_grad, verbose=False), "2.00x", "accumulate")


def test_train_step_without_step_is_caught():
    failed_with(checks.check_train_step(_without_step, verbose=False), "optimizer.step() was called 0 times")


def test_train_step_without_backward_is_caught():
    failed_with(checks.check_train_step(_without_backward, verbose=False), "no gradients")


def test_train_step_reference_is_the_package_function():
    assert checks.check_train_step(train_step, verbose=False).passed
    assert torch.is_grad_enabled()


# --- the cases (tests/check_cases.py) -----------------------------------------------------------------------

@pytest.mark.parametrize("part,name,impl", CORRECT, ids=[name for _, name, _ in CORRECT])
def test_a_correct_implementation_written_differently_passes(part, name, impl):
    result = run_case(part, impl)
    assert result.passed, f"{name}: a correct implementation is rejected:\n{result}"


@pytest.mark.parametrize("part,name,impl,words", WRONG, ids=[name for _, name, *_ in WRONG])
def test_a_wrong_implementation_fails_with_what_is_wrong(part, name, impl, words):
    result = run_case(part, impl)
    failed_with(result, *words)
    assert QUESTION[part] in str(result)


HOSTILE = [
    ("xception", "not a class", object()),
    ("xception", "a class whose forward returns None", _xception(lambda m: _bind(m, "forward", lambda s, x: None))),
    ("curves", "plots that return a number and raise", (lambda h: 42, lambda h, chance=None: 1 / 0)),
    ("curves", "a figure with no axes", (lambda h: plt.figure(), lambda h, chance=None: plt.figure())),
    ("fau", "Bottleneck is None", {(fm, "Bottleneck"): None}),
    ("fau", "a head that returns a list", {(fm.ResNet, "_make_deconv_layer"): lambda self, *a: [nn.ReLU()]}),
    ("train_step", "a step that returns a string", lambda *a, **k: "done"),
    ("train_step", "a step that is not callable", 3),
]


@pytest.mark.parametrize("part,name,impl", HOSTILE, ids=[name for _, name, _ in HOSTILE])
def test_the_checker_never_crashes_on_a_students_object(part, name, impl):
    result = run_case(part, impl)
    assert not result.passed and result.failures and QUESTION[part] in str(result)
    plt.close("all")


def test_grade_raises_with_the_first_failure(monkeypatch):
    assert checks.grade("T2.Q6", verbose=False).passed
    stub = stub_module("facekit/fau/train.py", monkeypatch)
    monkeypatch.setattr(fau_train, "train_step", stub.train_step)
    with pytest.raises(AssertionError, match="Task 2 Q6: .*not written yet"):
        checks.grade("T2.Q6", verbose=False)


def test_class_weights_stub_fails_with_its_message(monkeypatch):
    stub = stub_module("facekit/emotion/imbalance.py", monkeypatch)
    failed_with(checks.check_class_weights(stub.class_weights, verbose=False), "Task 1 Q6", "not written yet")
