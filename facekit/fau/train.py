"""Training the FAU heatmap model: MSE between predicted and target heatmaps, Adam, tqdm, history, atomic
checkpoints after every epoch and resume.

:func:`train_step` is one optimisation step written out (zero_grad -> forward -> loss -> backward -> step) so it can
be read in class and reused for few-shot tuning; :func:`train_fau` loops over it.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from facekit.io import load_checkpoint, save_checkpoint
from facekit.data.faceset import FaceSet
from facekit.fau.data import to_input
from facekit.fau.heatmaps import make_heatmaps, read_intensities
from facekit.fau.metrics import score_aus
from facekit.fau.model import ResNet, fau_checkpoint, load_fau_weights
from facekit.fau.augment import wild_augment
from facekit.fau.points import swaps_on_flip
from facekit.runtime import adapt_threads
from facekit.fau.data import load_au_csv
from facekit.fau.data import make_au_data
from facekit.fau.metrics import score_domains
from facekit.fau.model import FAUConfig
from facekit.fau.model import build_fau_model
from facekit.fau.model import load_fau_model
from facekit.runtime import seed_everything
import hashlib


class FAUTrainingDiverged(RuntimeError):
    """The FAU loss became NaN or infinite; the message says when, and where the last good weights are."""


def data_fingerprint(data: FaceSet | None) -> str | None:
    """A short hash of a data set's faces and labels: a resumed run must see the same data."""
    if data is None:
        return None
    step = max(1, len(data) // 64)
    h = hashlib.sha1(np.ascontiguousarray(data.au.numpy()).tobytes())
    h.update(np.ascontiguousarray(data.images.numpy()[::step]).tobytes())
    return f"{len(data)} faces, sha1 {h.hexdigest()[:12]}"


def _check_resume(recipe: dict, stored: dict | None, path) -> None:
    """Refuse to resume ``path`` when its stored recipe differs from this run's, naming every difference."""
    if not stored:
        return
    diff = [f"{k}: checkpoint {stored[k]!r}, now {recipe[k]!r}" for k in recipe
            if k in stored and stored[k] != recipe[k]]
    if diff:
        raise ValueError(f"Cannot resume {path}: this run differs from the one that wrote it ({'; '.join(diff)}). "
                         "Resume with the same settings, or start afresh with another --out (or delete the file).")


def make_batch(data: FaceSet, idx, config, sigma: float = 2.0, augment: bool = False,
               generator: torch.Generator | None = None, with_points: bool = False,
               robust: bool | dict = False) -> tuple[torch.Tensor, ...]:
    """Images and heatmap targets of faces ``idx``: ((B, C, S, S), (B, 2A, S/4, S/4)), plus the (augmented) AU
    points (B, A, 2, 2) in input pixels when ``with_points`` (for patch attention).

    ``augment`` (training only) applies light, label-preserving changes: a horizontal flip (left and right points
    swap), a shift of up to 4 pixels (points move with it), and brightness/contrast jitter of +-15 %.
    ``robust`` (with ``augment``) then applies the lab-to-wild augmentations of :mod:`facekit.fau.augment`; a dict
    is taken as changes to their ranges (e.g. ``{"skin": (0.5, 1.0)}``, see :data:`facekit.fau.augment.WILD_RANGES`).
    """
    if tuple(data.aus) != tuple(config.aus):
        raise ValueError(f"make_batch: the data holds AU{list(data.aus)} but the model predicts AU{list(config.aus)}; "
                         "make the data with make_au_data(..., aus=model.config.aus).")
    idx = np.asarray(idx)
    x = to_input(data.images.numpy()[idx], config.in_channels)
    pts = torch.as_tensor(data.points.numpy()[idx], dtype=torch.float32).clone()
    inten = torch.as_tensor(data.au.numpy()[idx], dtype=torch.float32)
    size = x.shape[-1]
    if size != config.input_size:
        x = torch.nn.functional.interpolate(x, size=(config.input_size,) * 2, mode="bilinear", align_corners=False)
        pts = (pts + 0.5) * (config.input_size / size) - 0.5
        size = config.input_size
    if augment:
        b = x.shape[0]
        g = generator
        flip = torch.rand(b, generator=g) < 0.5
        if flip.any():
            x[flip] = x[flip].flip(-1)
            p = pts[flip]
            p[..., 0] = size - 1 - p[..., 0]
            swap = torch.as_tensor(swaps_on_flip(config.aus))
            p[:, swap] = p[:, swap].flip(2)              # left point becomes the right one (midline pairs stay)
            pts[flip] = p
        shifts = torch.randint(-4, 5, (b, 2), generator=g)
        for i in range(b):
            dx, dy = int(shifts[i, 0]), int(shifts[i, 1])
            if dx or dy:
                x[i] = _shift(x[i], dx, dy)
                pts[i, ..., 0] += dx
                pts[i, ..., 1] += dy
        gain = 1 + 0.3 * (torch.rand(b, 1, 1, 1, generator=g) - 0.5)
        bias = 0.3 * (torch.rand(b, 1, 1, 1, generator=g) - 0.5)
        x = ((x - 0.5) * gain + 0.5 + bias * 0.5).clamp(0, 1)
        if robust:
            x, pts = wild_augment(x, pts, generator=g, ranges=robust if isinstance(robust, dict) else None)
    target = make_heatmaps(pts, inten, config.map_size, sigma=sigma, image_size=size)
    return (x, target, pts) if with_points else (x, target)


def _shift(img: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """Translate a (C, H, W) image by (dx, dy) pixels, filling with the edge value (no wrap-around)."""
    c, h, w = img.shape
    pad = torch.nn.functional.pad(img.unsqueeze(0), (4, 4, 4, 4), mode="replicate")[0]
    return pad[:, 4 - dy:4 - dy + h, 4 - dx:4 - dx + w].clone()


class WeightedMSELoss(nn.Module):
    """MSE with per-pixel weights ``1 + fg_weight * G``, ``G`` a unit Gaussian at every AU point (whatever the
    intensity). With ``fg_weight = 0`` it is plain MSE (the port's loss); a positive weight stops the loss from being
    dominated by the empty background, which is what makes small heatmap models slow to start."""

    def __init__(self, weights: torch.Tensor | None = None):
        super().__init__()
        self.weights = weights

    def forward(self, heatmaps: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        err = (heatmaps - targets) ** 2
        return err.mean() if self.weights is None else (err * self.weights).mean()


def _point_weights(points: torch.Tensor, config, fg_weight: float, sigma: float = 2.0) -> torch.Tensor:
    """Weights (B, 2A, map, map) for :class:`WeightedMSELoss` from (B, A, 2, 2) input-pixel points."""
    ones = torch.ones(points.shape[:2])
    return 1 + fg_weight * make_heatmaps(points, ones, config.map_size, sigma=sigma, image_size=config.input_size)


def train_step(model: nn.Module, images: torch.Tensor, targets: torch.Tensor, optimizer: torch.optim.Optimizer,
               loss_fn: nn.Module | None = None, points: torch.Tensor | None = None) -> float:
    """One optimisation step on one batch; returns the loss. ``points``: AU points, for patch attention only."""
    loss_fn = loss_fn or nn.MSELoss()
    model.train()
    # Task 2 Q6: one optimisation step: zero the gradients, forward (pass points= when given), loss_fn(heatmaps,
    # targets), backward, optimizer step; return the loss as a float.
    ### BEGIN SOLUTION
    optimizer.zero_grad()
    heatmaps = model(images) if points is None else model(images, points=points)
    loss = loss_fn(heatmaps, targets)
    loss.backward()
    optimizer.step()
    return float(loss.detach())
    ### END SOLUTION


@torch.no_grad()
def predict_heatmaps(model: ResNet, data: FaceSet | np.ndarray, batch_size: int = 64,
                     device: str | torch.device = "cpu") -> torch.Tensor:
    """Heatmaps (N, 10, map, map) for a FaceSet or a uint8 image array, in eval mode."""
    images = data.images.numpy() if isinstance(data, FaceSet) else np.asarray(data)
    model.eval()
    out = []
    for start in range(0, len(images), batch_size):
        adapt_threads()
        x = to_input(images[start:start + batch_size], model.config.in_channels, model.config.input_size)
        pts = _input_points(model, data, slice(start, start + batch_size))
        out.append(model(x.to(device), points=None if pts is None else pts.to(device)).cpu())
    return torch.cat(out) if out else torch.empty(0, model.config.num_maps, model.config.map_size,
                                                  model.config.map_size)


def _input_points(model: ResNet, data, rows) -> torch.Tensor | None:
    """The face set's points of ``rows`` in model-input pixels, for a model with patch attention (else None)."""
    if not getattr(model.config, "patch_attention", False) or not isinstance(data, FaceSet):
        return None
    pts = torch.as_tensor(data.points.numpy()[rows], dtype=torch.float32)
    return (pts + 0.5) * (model.config.input_size / data.image_size) - 0.5


def predict_intensities(model: ResNet, data: FaceSet | np.ndarray, batch_size: int = 64,
                        device: str | torch.device = "cpu") -> np.ndarray:
    """(N, A) predicted intensities of ``model.config.aus`` (max of each map, mean over the AU's two maps,
    clipped to 0-5)."""
    hm = predict_heatmaps(model, data, batch_size, device)
    return read_intensities(hm, model.config.maps_per_au).numpy()


def evaluate(model: ResNet, data: FaceSet, batch_size: int = 64, device="cpu") -> pd.DataFrame:
    """Per-AU ICC(3,1), PCC and MAE on ``data`` (see :func:`facekit.fau.metrics.score_aus`)."""
    return score_aus(data.au.numpy(), predict_intensities(model, data, batch_size, device), aus=data.aus)


def set_backbone_frozen(model: ResNet, frozen: bool = True) -> int:
    """Freeze (or unfreeze) stem + layer1..layer4; returns the number of trainable parameters left."""
    for module in model.backbone():
        for p in module.parameters():
            p.requires_grad_(not frozen)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _resume(model: ResNet, optimizer, scheduler, recipe: dict, ckpt_path) -> tuple[list[dict], int]:
    """Load a run's weights, optimizer and scheduler from ``ckpt_path``; the history so far and the next epoch."""
    ckpt = load_checkpoint(ckpt_path)
    _check_resume(recipe, ckpt.get("recipe"), ckpt_path)
    load_fau_weights(model, ckpt, source=str(ckpt_path))
    if "optimizer" in ckpt:
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
    history = list(ckpt.get("history", []))
    return history, int(ckpt.get("epoch", len(history)))


def _epoch_steps(model: ResNet, train: FaceSet, order, bar, g, optimizer, scheduler, *, device, batch_size: int,
                 sigma: float, augment: bool, robust, fg_weight: float, where) -> list[float]:
    """One epoch's SGD steps over ``order``; the step losses. ``where`` (epoch, lr, ckpt_path) names a divergence."""
    epoch, lr, ckpt_path = where
    loss_fn = nn.MSELoss()
    losses = []
    for s in bar:
        adapt_threads()
        idx = order[s * batch_size:(s + 1) * batch_size]
        x, y, pts = make_batch(train, idx, model.config, sigma=sigma, augment=augment, generator=g,
                               with_points=True, robust=robust)
        if fg_weight:
            loss_fn = WeightedMSELoss(_point_weights(pts, model.config, fg_weight, sigma).to(device))
        pts = pts.to(device) if getattr(model.config, "patch_attention", False) else None
        losses.append(train_step(model, x.to(device), y.to(device), optimizer, loss_fn, points=pts))
        if not np.isfinite(losses[-1]):
            saved = ckpt_path and Path(ckpt_path).is_file()
            raise FAUTrainingDiverged(
                f"FAU training diverged: the loss became {losses[-1]} at epoch {epoch + 1}, step {s + 1}. Lower "
                f"the learning rate (now {lr}) or check the labels; the last good weights are "
                f"{f'in {ckpt_path}' if saved else 'nowhere (no epoch finished, nothing was written)'}.")
        scheduler.step()
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
    return losses


def train_fau(model: ResNet, train: FaceSet, val: FaceSet | None = None, *, epochs: int = 10, lr: float = 2e-3,
              batch_size: int = 32, weight_decay: float = 0.0, freeze_backbone: bool = False, augment: bool = True,
              fg_weight: float = 0.0, robust: bool | dict = False,
              sigma: float = 2.0, seed: int = 0, ckpt_path: str | os.PathLike | None = None, resume: bool = False,
              device: str | torch.device = "cpu", progress: bool = True, extra: dict | None = None,
              stop_after: int | None = None) -> pd.DataFrame:
    """Train ``model`` on ``train`` with MSE on heatmaps; returns the history (one row per epoch).

    Cosine learning-rate decay over ``epochs``. After every epoch the model, optimizer, scheduler and history are
    saved atomically to ``ckpt_path`` (if given); ``resume=True`` continues from that file when it exists (the
    epochs already done are skipped, the result is the same as an uninterrupted run). ``freeze_backbone`` trains
    only the deconvolution head and ``final_layer`` (BatchNorm statistics of the frozen part are kept too).
    ``fg_weight`` > 0 weights the pixels around the AU points more (:class:`WeightedMSELoss`); 0 is plain MSE.
    ``robust`` adds the lab-to-wild augmentations (:mod:`facekit.fau.augment`) to ``augment`` (a dict: with those
    changes to :data:`facekit.fau.augment.WILD_RANGES`).
    ``stop_after`` ends the run after that many epochs (the schedule still spans ``epochs``): an interruption
    that ``resume=True`` continues.
    """
    if len(train) == 0:
        raise ValueError("train_fau: the training set is empty.")
    model.to(device)
    if freeze_backbone:
        set_backbone_frozen(model, True)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    steps_per_epoch = (len(train) + batch_size - 1) // batch_size
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs * steps_per_epoch))
    history: list[dict] = []
    start_epoch = 0
    recipe = dict(epochs=epochs, lr=lr, batch_size=batch_size, weight_decay=weight_decay, seed=seed, augment=augment,
                  freeze_backbone=freeze_backbone, fg_weight=fg_weight, sigma=sigma, robust=robust,
                  data=data_fingerprint(train),
                  val_data=data_fingerprint(val))
    if resume and ckpt_path and Path(ckpt_path).is_file():
        history, start_epoch = _resume(model, optimizer, scheduler, recipe, ckpt_path)
    last = epochs if stop_after is None else min(epochs, stop_after)
    for epoch in range(start_epoch, last):
        g = torch.Generator().manual_seed(seed * 1000 + epoch)   # per-epoch seed: resume gives the same run
        order = torch.randperm(len(train), generator=g).numpy()
        t0 = time.perf_counter()
        bar = tqdm(range(steps_per_epoch), desc=f"train-fau epoch {epoch + 1}/{epochs}", disable=not progress,
                   leave=False)
        losses = _epoch_steps(model, train, order, bar, g, optimizer, scheduler, device=device,
                              batch_size=batch_size, sigma=sigma, augment=augment, robust=robust,
                              fg_weight=fg_weight, where=(epoch, lr, ckpt_path))
        if freeze_backbone:
            for module in model.backbone():
                module.eval()
        row = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "lr": scheduler.get_last_lr()[0],
               "seconds": time.perf_counter() - t0}
        if val is not None and len(val):
            scores = evaluate(model, val, device=device)
            row.update(val_icc=scores.loc["mean", "icc"], val_pcc=scores.loc["mean", "pcc"],
                       val_mae=scores.loc["mean", "mae"])
        history.append(row)
        if progress:
            tqdm.write("  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
        if ckpt_path:
            save_checkpoint(fau_checkpoint(model, optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                                           history=history, epoch=epoch + 1, recipe=recipe, **(extra or {})),
                            ckpt_path)
    return pd.DataFrame(history)


def slim_checkpoint(src: str | os.PathLike, dst: str | os.PathLike, **extra) -> Path:
    """Copy a training checkpoint without optimizer/scheduler state (what ships in data/checkpoints)."""
    ckpt = load_checkpoint(src)
    for key in ("optimizer", "scheduler"):
        ckpt.pop(key, None)
    ckpt.update(extra)
    return save_checkpoint(ckpt, dst)


DEFAULT_PRETRAIN = dict(n_train=4000, n_val=500, epochs=10, batch_size=16, lr=3e-3, fg_weight=5.0, seed=0)
"""The settings of the shipped checkpoint data/checkpoints/fau_resnet.pt (see data/README.md)."""


def pretrain_fau(ckpt_path: str | os.PathLike, *, config=None, n_train: int = 4000, n_val: int = 500,
                 epochs: int = 10, batch_size: int = 16, lr: float = 3e-3, seed: int = 0, resume: bool = False,
                 augment: bool = True, freeze_backbone: bool = False, fg_weight: float = 5.0,
                 train_csv: str | None = None,
                 val_csv: str | None = None, init: str | os.PathLike | None = None, progress: bool = True,
                 robust: bool | dict = False, init_backbone: str | os.PathLike | None = None):
    """Pretrain (or with ``train_csv`` train on real AU labels) and score on held-out ``lab`` and ``wild`` faces.

    Generated data: ``n_train`` training and ``n_val`` validation faces of the ``lab`` domain (seeds ``seed`` and
    ``seed + 1``), rendered once and held in memory; ``n_val`` ``wild`` faces (seed ``seed + 2``) are scored at the
    end. Returns ``(model, history, scores)`` with ``scores`` from :func:`facekit.fau.metrics.score_domains`; the
    final checkpoint holds the history and the scores.

    ``robust`` trains with the lab-to-wild augmentations (:mod:`facekit.fau.augment`); the faces stay ``lab``.
    ``init_backbone`` starts ``config`` (e.g. :meth:`FAUConfig.all_aus`) from another FAU checkpoint's weights
    except its ``final_layer`` (the only part whose shape depends on the AUs).
    """

    if train_csv and not val_csv:
        raise ValueError("--train-csv needs --val-csv: real AU data is scored on held-out faces at the end. Move "
                         "about a tenth of the rows (other subjects) into a second CSV and pass it as --val-csv.")
    seed_everything(seed)
    if init:
        model = load_fau_model(init)
    else:
        model = build_fau_model(config or FAUConfig())
        if init_backbone:
            load_fau_weights(model, init_backbone, skip=("final_layer.",))
    size = model.config.input_size
    t0 = time.perf_counter()
    if train_csv:
        train = load_au_csv(train_csv, size=size, color=model.config.in_channels == 3)
        val = load_au_csv(val_csv, size=size, color=model.config.in_channels == 3) if val_csv else None
        tests = {"val": val} if val is not None else {}
    else:
        color = model.config.in_channels == 3
        aus = model.config.aus
        train = make_au_data(n_train, seed=seed, domain="lab", size=size, color=color, aus=aus)
        val = make_au_data(n_val, seed=seed + 1, domain="lab", size=size, color=color, aus=aus)
        tests = {"lab": val, "wild": make_au_data(n_val, seed=seed + 2, domain="wild", size=size, color=color,
                                                  aus=aus)}
    render_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    history = train_fau(model, train, val, epochs=epochs, lr=lr, batch_size=batch_size, augment=augment,
                        freeze_backbone=freeze_backbone, fg_weight=fg_weight, seed=seed, ckpt_path=ckpt_path, resume=resume,
                        progress=progress, robust=robust)
    train_s = time.perf_counter() - t0
    scores = score_domains({k: (d.au.numpy(), predict_intensities(model, d)) for k, d in tests.items()},
                           aus=model.config.aus)
    if ckpt_path:

        ckpt = load_checkpoint(ckpt_path)
        ckpt.update(scores=scores.to_dict(orient="records"), render_seconds=render_s,
                    train_seconds=train_s,
                    settings=dict(n_train=n_train, n_val=n_val, epochs=epochs, batch_size=batch_size, lr=lr,
                                  seed=seed, augment=augment, freeze_backbone=freeze_backbone, fg_weight=fg_weight,
                                  train_csv=str(train_csv) if train_csv else None,
                                  init=str(init) if init else None, robust=robust,
                                  init_backbone=str(init_backbone) if init_backbone else None))
        save_checkpoint(ckpt, ckpt_path)
    return model, history, scores
