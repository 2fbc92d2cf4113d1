"""The patch-attention study of notebook 08 (Task 2 Q8-Q11): attention tables and figures, the with/without
comparison, the bootstrap over faces and the seed ablation. The component itself is :mod:`facekit.fau.attention`.
"""
from __future__ import annotations

import torch
from torch import nn

from facekit.fau.attention import attention_weights
from facekit.fau.data import to_input
from facekit.fau.metrics import score_aus
from facekit.fau.model import FAUConfig
from facekit.fau.model import FAU_AUS
from facekit.fau.train import DEFAULT_PRETRAIN
from facekit.fau.train import predict_intensities
from facekit.fau.train import pretrain_fau
from facekit.io import atomic_write_text
from pathlib import Path
import numpy as np
import pandas as pd
import time


def attention_table(weights: torch.Tensor, aus=None, sides: tuple[str, ...] = ("left", "right")):
    """Mean attention per AU point as a DataFrame (rows AU, columns sides), for the notebook's table."""

    aus = tuple(aus or FAU_AUS)
    mean = weights.float().mean(0).view(len(aus), len(sides)).numpy()
    return pd.DataFrame(mean, index=pd.Index([f"AU{a}" for a in aus], name="AU"), columns=list(sides))


def _input_points(model: nn.Module, data, n: int) -> torch.Tensor:
    """The first ``n`` faces' AU points, converted from image pixels to the model's input pixels."""
    scale = model.config.input_size / data.image_size
    return (torch.as_tensor(data.points.numpy()[:n], dtype=torch.float32) + 0.5) * scale - 0.5


def attention_for(model: nn.Module, data, n: int | None = None) -> torch.Tensor:
    """(n, 10) patch weights for the first ``n`` faces of an :class:`~facekit.data.FaceSet`, at their landmarks."""
    n = len(data) if n is None else min(n, len(data))
    x = to_input(data.images.numpy()[:n], model.config.in_channels, model.config.input_size)
    return attention_weights(model, x, _input_points(model, data, n))


def predict_variant(model: nn.Module, data, use_points: bool = True):
    """(N, 5) intensities; a patch-attention model gets the faces' landmark points unless ``use_points=False``
    (then it falls back to its learned average positions, as it would with no landmark detector)."""

    return predict_intensities(model, data if use_points else data.images.numpy())


def compare_variants(variants: dict, sets: dict):
    """``variants``: name -> (model, use_points); ``sets``: name -> FaceSet. Returns ``(table, predictions)``: a long
    table (set, variant, au, icc, pcc, mae) and ``predictions[set][variant]`` (N, 5) for :func:`bootstrap_difference`."""

    frames, preds = [], {}
    for set_name, data in sets.items():
        preds[set_name] = {}
        for name, (model, use_points) in variants.items():
            p = predict_variant(model, data, use_points)
            preds[set_name][name] = p
            frames.append(score_aus(data.au.numpy(), p).reset_index().assign(set=set_name, variant=name))
    table = pd.concat(frames, ignore_index=True)[["set", "variant", "au", "icc", "pcc", "mae"]]
    return table, preds


def bootstrap_difference(y_true, pred_a, pred_b, n_boot: int = 1000, seed: int = 0) -> dict:
    """Paired bootstrap over faces of the mean-over-AUs ICC and MAE difference ``b - a``: point estimate and 95 %
    interval. The same resampled faces score both models, so face-to-face difficulty cancels."""

    y_true, pred_a, pred_b = (np.asarray(v, dtype=float) for v in (y_true, pred_a, pred_b))
    if not len(y_true) == len(pred_a) == len(pred_b):
        raise ValueError("bootstrap_difference: y_true, pred_a and pred_b must have one row per face each.")

    def diff(idx):
        a = score_aus(y_true[idx], pred_a[idx]).loc["mean"]
        b = score_aus(y_true[idx], pred_b[idx]).loc["mean"]
        return b["icc"] - a["icc"], b["mae"] - a["mae"]

    rng = np.random.default_rng(seed)
    n = len(y_true)
    draws = np.array([diff(rng.integers(0, n, n)) for _ in range(n_boot)])
    point = diff(np.arange(n))
    lo, hi = np.nanpercentile(draws, [2.5, 97.5], axis=0)
    return {"d_icc": point[0], "d_icc_lo": lo[0], "d_icc_hi": hi[0],
            "d_mae": point[1], "d_mae_lo": lo[1], "d_mae_hi": hi[1], "n_faces": n}


def plot_attention(model: nn.Module, data, n: int = 5):
    """The first ``n`` faces with each AU patch drawn as a square whose opacity is its sigmoid attention weight."""
    import matplotlib.pyplot as plt  # lazy: plotting only; the CLI and training paths never load matplotlib
    from matplotlib.patches import Rectangle  # lazy: plotting only; the CLI and training paths never load matplotlib

    n = min(n, len(data))
    size = model.config.input_size
    pts = _input_points(model, data, n)
    weights = attention_for(model, data, n).numpy()
    side = model.refine.patch_frac * size
    colors = plt.cm.tab10(np.arange(len(FAU_AUS)))
    fig, axes = plt.subplots(1, n, figsize=(2.4 * n, 2.8), squeeze=False)
    for c in range(n):
        ax = axes[0, c]
        img = data.images.numpy()[c] if data.images.ndim == 3 else data.images.numpy()[c].mean(0)
        ax.imshow(img, cmap="gray", extent=(0, size, size, 0))
        for m, (x, y) in enumerate(pts[c].reshape(-1, 2).numpy()):
            a = m // 2
            ax.add_patch(Rectangle((x - side / 2, y - side / 2), side, side, fill=True, alpha=0.55 * weights[c, m],
                                   color=colors[a], label=f"AU{FAU_AUS[a]}" if c == 0 and m % 2 == 0 else None))
        ax.set_title(f"{data.names[c]}", fontsize=8)
        ax.axis("off")
    fig.legend(loc="lower center", ncol=len(FAU_AUS), fontsize=8)
    fig.suptitle("patch attention: opacity = sigmoid weight of each landmark-centred patch", fontsize=9)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def run_seed_ablation(seeds, out_csv, work_dir, variants=(False, True), progress: bool = False,
                      **pretrain_kwargs):
    """Pretrain the baseline and the patch-attention model once per seed with the shipped checkpoints' recipe
    (:data:`facekit.fau.train.DEFAULT_PRETRAIN`, seed replaced) and append the mean lab / wild ICC, PCC and MAE of
    each run to ``out_csv`` (rewritten atomically after every run, so an interrupted ablation keeps what it finished).
    ``variants``: which of baseline (False) / patch attention (True) to train, e.g. to run the two in parallel.

    This is the command behind ``data/fau/patchattn_seeds.csv`` (see data/README.md); it takes about 15 CPU
    minutes per run on one thread.
    """

    out_csv, work_dir = Path(out_csv), Path(work_dir)
    rows = pd.read_csv(out_csv).to_dict("records") if out_csv.is_file() else []
    done = {(int(r["seed"]), bool(r["patch_attention"])) for r in rows}
    for seed in seeds:
        for pa in variants:
            if (int(seed), pa) in done:
                continue
            settings = {**DEFAULT_PRETRAIN, **pretrain_kwargs, "seed": int(seed)}
            t0 = time.perf_counter()
            _, history, scores = pretrain_fau(work_dir / f"ablation_s{seed}_{'pa' if pa else 'base'}.pt",
                                              config=FAUConfig(patch_attention=pa), progress=progress, **settings)
            means = scores[scores["au"] == "mean"].set_index("domain")
            rows.append({"seed": int(seed), "patch_attention": pa, "seconds": time.perf_counter() - t0,
                         "final_train_loss": float(history["train_loss"].iloc[-1]),
                         **{f"{d}_{m}": float(means.loc[d, m]) for d in means.index for m in ("icc", "pcc", "mae")},
                         **{k: v for k, v in settings.items() if k != "seed"}})
            atomic_write_text(out_csv, pd.DataFrame(rows).to_csv(index=False))
    return pd.DataFrame(rows)


def seed_runs(csv):
    """The pretraining runs of :func:`run_seed_ablation` (one row per seed and variant: lab / wild mean ICC, PCC,
    MAE on the 500 held-out faces each run scores itself on) and the per-seed paired difference attention - baseline."""

    runs = pd.read_csv(csv).sort_values(["seed", "patch_attention"]).drop_duplicates(["seed", "patch_attention"])
    metrics = [c for c in runs.columns if c.split("_")[0] in ("lab", "wild")]
    wide = runs.pivot(index="seed", columns="patch_attention", values=metrics)
    paired = pd.DataFrame({m: wide[(m, True)] - wide[(m, False)] for m in metrics
                           if (m, True) in wide and (m, False) in wide}).dropna()
    return runs.reset_index(drop=True), paired


