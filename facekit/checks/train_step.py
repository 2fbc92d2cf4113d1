"""Task 2 Q6: ``facekit.fau.train.train_step`` on a tiny model with BatchNorm that takes ``points``, a custom
``loss_fn``, and a fixed batch. The step must use the loss it is given and the points when given, train (BatchNorm on
the batch's statistics), return the loss of the batch before the step as a float, step once, and not let gradients
accumulate. A wrong gradient is matched against the usual mistakes (MSE instead of ``loss_fn``, points dropped,
eval mode) so the message can say which one it is."""
from __future__ import annotations

import copy

import torch
from torch import nn

from facekit.checks.core import CheckResult, attempt, guarded
from facekit.fau import train as fau_train

_CALL = "train_step(model, images, targets, optimizer, loss_fn=loss_fn, points=points)"


class _TinyNet(nn.Module):
    """conv - BatchNorm - ReLU - conv; ``points`` (B, A, 2, 2) shift each face's maps, as attention would."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 2, 3, padding=1)

    def forward(self, x, points=None):
        out = self.conv2(self.relu(self.bn(self.conv1(x))))
        return out if points is None else out + points.flatten(1).mean(1).view(-1, 1, 1, 1)


class _CustomLoss(nn.Module):
    """Not MSE: squared error weighted towards the second map plus an L1 term."""

    def forward(self, heatmaps, targets):
        weights = torch.tensor([1.0, 3.0]).view(1, 2, 1, 1)
        return ((heatmaps - targets) ** 2 * weights).mean() + 0.1 * (heatmaps - targets).abs().mean()


class _RecordingSGD(torch.optim.SGD):
    """SGD that keeps a copy of the gradients it was asked to apply at every ``step``."""

    def __init__(self, params, lr):
        super().__init__(params, lr=lr)
        self.seen: list[list[torch.Tensor | None]] = []

    def step(self, closure=None):
        self.seen.append([None if p.grad is None else p.grad.detach().clone()
                          for g in self.param_groups for p in g["params"]])
        return super().step(closure)


def _problem():
    gen = torch.Generator().manual_seed(0)
    model = _TinyNet()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    images = torch.rand(4, 1, 8, 8, generator=gen)
    targets = torch.rand(4, 2, 8, 8, generator=gen)
    points = torch.rand(4, 1, 2, 2, generator=gen) * 8
    return model, images, targets, points


def _loss_and_grads(model, images, targets, loss_fn, points=None, train=True):
    """The loss and gradients a step of ``model`` (copied) would see, in training or eval mode."""
    twin = copy.deepcopy(model).train(train)
    loss = loss_fn(twin(images) if points is None else twin(images, points=points), targets)
    return float(loss.detach()), torch.autograd.grad(loss, list(twin.parameters()))


def _same(grads, other) -> bool:
    return all(g is not None and torch.allclose(g, e, rtol=1e-4, atol=1e-7) for g, e in zip(grads, other))


def _which_mistake(model, images, targets, points, loss_fn, value=None, grads=None) -> str:
    """What a wrong loss value or gradient matches: MSE instead of loss_fn, points dropped, eval mode."""
    for why, kwargs in (("it is nn.MSELoss's, not the loss_fn train_step is given: compute loss_fn(heatmaps, "
                         "targets)", {"loss_fn": nn.MSELoss(), "points": points}),
                        ("it is the one of model(images) without the points: pass points= to the model when given",
                         {"loss_fn": loss_fn, "points": None}),
                        ("it is the one of the model in eval mode: do not call model.eval() in train_step "
                         "(BatchNorm must use the batch's statistics while training)",
                         {"loss_fn": loss_fn, "points": points, "train": False})):
        v, g = _loss_and_grads(model, images, targets, **kwargs)
        if (value is not None and abs(value - v) < 1e-5) or (grads is not None and _same(grads, g)):
            return why
    return ""


def _fixed_weights(result: CheckResult, train_step) -> bool:
    model, images, targets, points = _problem()
    loss_fn = _CustomLoss()
    loss_before, expected = _loss_and_grads(model, images, targets, loss_fn, points)
    opt = _RecordingSGD(model.parameters(), lr=0.0)       # lr 0: the weights stay put, so both steps see one gradient
    ok, first = attempt(result, _CALL, train_step, model, images, targets, opt, loss_fn=loss_fn, points=points)
    ok = ok and attempt(result, _CALL + " (second call)", train_step, model, images, targets, opt, loss_fn=loss_fn,
                        points=points)[0]
    if not ok:
        return False
    is_number = isinstance(first, (float, int)) and not isinstance(first, bool)
    right = is_number and abs(float(first) - loss_before) < 1e-5
    why = "" if right or not is_number else _which_mistake(model, images, targets, points, loss_fn, value=float(first))
    result.add(right, "returns the batch's loss (of loss_fn, with the points) as a float" if right else
               f"train_step returned a {type(first).__name__} ({first!r}): return the loss as a float "
               "(float(loss) or loss.item())" if not is_number else
               f"train_step returned {float(first):.6f}; the batch's loss is {loss_before:.6f}" + (
                   f": {why}" if why else ""))
    if not result.add(len(opt.seen) == 2, "calls optimizer.step() once per step" if len(opt.seen) == 2 else
                      f"optimizer.step() was called {len(opt.seen)} times in 2 calls of train_step"):
        return False
    grads, second = opt.seen
    if not result.add(all(g is not None for g in grads), "the optimizer finds gradients when it steps"
                      if all(g is not None for g in grads) else
                      "no gradients when the optimizer stepped: differentiate the loss (backward) before the step, "
                      "and clear the gradients before the backward, not between backward and step"):
        return False
    right = _same(grads, expected)
    why = "" if right else _which_mistake(model, images, targets, points, loss_fn, grads=grads)
    result.add(right, "the gradient is the gradient of this batch's loss" if right else
               "the gradient at the first step is not the gradient of this batch's loss" + (f": {why}" if why else ""))
    ratio = float(sum((g2 * g1).sum() for g1, g2 in zip(grads, second)) / sum((g1 * g1).sum() for g1 in grads))
    return result.add(abs(ratio - 1) < 1e-3, "gradients do not accumulate across steps" if abs(ratio - 1) < 1e-3 else
                      f"on the same batch with unchanged weights, the second step's gradient is {ratio:.2f}x the "
                      "first's: gradients accumulate across steps; clear them in every step")


def _moving_weights(result: CheckResult, train_step) -> None:
    model, images, targets, points = _problem()
    loss_fn = _CustomLoss()
    before, _ = _loss_and_grads(model, images, targets, loss_fn, points)
    ok, value = attempt(result, _CALL, train_step, model, images, targets, torch.optim.SGD(model.parameters(), lr=0.5),
                        loss_fn=loss_fn, points=points)
    if not ok:
        return
    after, _ = _loss_and_grads(model, images, targets, loss_fn, points)
    value = float(value.detach() if isinstance(value, torch.Tensor) else value)
    right = abs(value - before) < 1e-5
    result.add(right, "with a learning rate, it still returns the loss before the step" if right else
               f"with lr=0.5 train_step returned {value:.6f}; the loss before the step is {before:.6f}"
               + (" (it returned the loss after the step: return the loss computed before the step, the one that "
                  "was differentiated)" if abs(value - after) < 1e-5 else ""))
    model, images, targets, _ = _problem()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    mse = nn.MSELoss()
    start = float(mse(model.train()(images), targets).detach())
    for i in range(20):
        if not attempt(result, f"train_step(model, images, targets, optimizer) (step {i + 1} of 20)", train_step,
                       model, images, targets, opt)[0]:
            return
    end = float(mse(model.train()(images), targets).detach())
    lower = end < 0.9 * start
    result.add(lower, f"20 steps on one fixed batch {'lower' if lower else 'do not lower'} the loss "
                      f"({start:.4f} -> {end:.4f})")


@guarded("Task 2 Q6")
def check_train_step(result: CheckResult, train_step=None) -> None:
    """Task 2 Q6: ``facekit.fau.train.train_step`` (or ``train_step``) on a fixed tiny model and batch."""
    train_step = train_step or fau_train.train_step
    with torch.enable_grad():
        if _fixed_weights(result, train_step):
            _moving_weights(result, train_step)
