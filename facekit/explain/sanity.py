"""Which explanation to show, and whether it explains the model at all.

* :func:`select_explainer`: choose the (method, layer) of the ``guided_gradcam.jpg`` rows by the region score on a
  *validation* set of synthetic faces (rendered with their own seed; the ``test`` / ``test2`` folders are never
  read), so the deliverable shows the map that best points at the regions the generator moved.
* :func:`randomisation_check`: the model-randomisation sanity check of Adebayo et al. (2018, "Sanity checks for
  saliency maps"): re-initialise the model's layers from the top down (cascading) and measure, after each step, how
  similar guided backpropagation and the CAM still are to those of the trained model (Spearman rank correlation of
  the absolute maps, averaged over faces). A map that barely changes when the weights are destroyed does not
  explain the weights.
"""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import torch
from torch import nn

from facekit.explain.cam import compute_cams, guided_backprop
from facekit.data.fer import EMOTIONS
from facekit.emotion.xception import preprocess
from facekit.explain.cam import score_explanations
from facekit.explain.cam import summarize_scores
from facekit.explain.cases import emotion_region_masks
from facekit.explain.cases import held_out_faces

#: The MiniXception's layers from the top (output) down: the order of the cascading randomisation.
_CASCADE: tuple[str, ...] = ("last_conv", "block4", "block3", "block2", "block1", "stem")

#: A rank correlation above this after the top layers are randomised means "the map hardly changed".
UNCHANGED = 0.5


def parse_explainer(spec: str) -> tuple[str, str]:
    """``"hirescam@block3"`` -> ("hirescam", "block3"); a bare layer name means Grad-CAM at that layer."""
    method, _, layer = spec.partition("@")
    return (method.strip(), layer.strip()) if layer else ("gradcam", method.strip())


def choose_explainer(summary: pd.DataFrame, score: str = "region_share") -> dict:
    """The (method, layer) with the highest ``score`` in a :func:`facekit.explain.summarize_scores` table (its
    ``emotion == "all"`` rows), with that score and the ``last_conv`` Grad-CAM score for comparison."""
    overall = summary[summary["emotion"] == "all"].dropna(subset=[score])
    if overall.empty:
        raise ValueError(f"No (method, layer) has a {score} to choose by: every map of the validation faces is empty.")
    best = overall.loc[overall[score].idxmax()]
    base = overall[(overall["method"] == "gradcam") & (overall["layer"] == "last_conv")]
    return {"method": best["method"], "layer": best["layer"], "score": float(best[score]), "by": score,
            "chance": float(best["chance"]),
            "last_conv_score": float(base[score].iloc[0]) if len(base) else float("nan")}


def select_explainer(model: nn.Module, candidates, n_per_class: int = 10, seed: int = 4321,
                     score: str = "region_share") -> tuple[dict, pd.DataFrame]:
    """Score each (method, layer) in ``candidates`` on ``n_per_class`` freshly rendered synthetic faces per emotion
    (render ``seed``; neutral left out) and return :func:`choose_explainer`'s choice and the summary table. Reads
    no file: the faces come from the generator, never from ``data/test`` or ``data/test2``."""

    faces = held_out_faces(n_per_class, seed=seed)
    scores = score_explanations(model, preprocess(faces.images), faces.clean_emotion, emotion_region_masks(faces),
                                methods=list(candidates), class_names=EMOTIONS, road_n=0)
    summary = summarize_scores(scores)
    return choose_explainer(summary, score), summary


#: The (method, layer) pairs notebook 03 compares and :func:`resolve_explainer` chooses among (QUICK: the first 3).
CANDIDATES: tuple[tuple[str, str], ...] = (("gradcam", "last_conv"), ("gradcam", "block3"), ("hirescam", "block3"),
                                           ("gradcam", "block2"), ("gradcam++", "block3"))


def candidates(quick: bool = False) -> list[tuple[str, str]]:
    """:data:`CANDIDATES`, or its first three in a QUICK run."""
    return list(CANDIDATES[:3] if quick else CANDIDATES)


def resolve_explainer(model: nn.Module, spec: str = "auto", quick: bool = False, n_per_class: int = 10,
                      seed: int = 4321) -> tuple[dict, pd.DataFrame | None]:
    """The explainer of the ``guided_gradcam.jpg`` rows, as notebooks 03 and 04 both choose it: ``spec`` ``"auto"``
    runs :func:`select_explainer` over :func:`candidates` (same faces, seed and rule in both notebooks, so the same
    model gets the same choice); anything else is parsed by :func:`parse_explainer` (``by = "parameter"``). Returns
    (choice, validation summary or None)."""
    if spec == "auto":
        return select_explainer(model, candidates(quick), n_per_class=n_per_class, seed=seed)
    method, layer = parse_explainer(spec)
    return {"method": method, "layer": layer, "score": float("nan"), "by": "parameter"}, None


def rank_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of each pair of maps (N, H, W) -> (N,), ties given their average rank; NaN when
    a map is constant."""
    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    b = np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    ra = pd.DataFrame(a.T).rank().to_numpy().T.copy()
    rb = pd.DataFrame(b.T).rank().to_numpy().T.copy()
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    den = np.sqrt((ra ** 2).sum(1) * (rb ** 2).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (ra * rb).sum(1) / np.where(den > 0, den, 1), np.nan)


def _randomise_layer(model: nn.Module, name: str, seed: int = 0) -> None:
    """Re-initialise every weight of the layer ``name`` in place (convolutions: Kaiming normal; BatchNorm: weight
    1, bias 0, running statistics reset), seeded."""
    gen = torch.Generator().manual_seed(seed)
    layer = dict(model.named_modules())[name]
    with torch.no_grad():
        for m in layer.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * np.sqrt(2.0 / fan_in))
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.reset_parameters()
                m.reset_running_stats()


def randomisation_check(model: nn.Module, x: torch.Tensor, targets=None, method: str = "gradcam",
                        layer: str = "block3", cascade=_CASCADE, seed: int = 0) -> pd.DataFrame:
    """Cascading model randomisation: for k = 0 .. len(cascade), randomise the top k layers of a copy of ``model``
    and compare its guided backprop and its ``method @ layer`` CAM with those of the trained model, for the same
    target classes (default: the trained model's predictions). One row per step: ``randomised`` (the layer added
    at this step, "none" first), ``gb_rank_corr`` and ``cam_rank_corr`` (mean Spearman correlation of the absolute
    maps over the faces; 1 = unchanged)."""
    model = copy.deepcopy(model).eval()
    with torch.no_grad():
        classes = model(x).argmax(1) if targets is None else torch.as_tensor(targets)
    gb0 = np.abs(guided_backprop(model, x, classes))
    cam0 = compute_cams(model, x, classes, method=method, layer=layer)
    rows = [{"step": 0, "randomised": "none", "gb_rank_corr": 1.0, "cam_rank_corr": 1.0}]
    for k, name in enumerate(cascade, start=1):
        _randomise_layer(model, name, seed=seed + k)
        gb = np.abs(guided_backprop(model, x, classes))
        cam = compute_cams(model, x, classes, method=method, layer=layer)
        rows.append({"step": k, "randomised": name, "gb_rank_corr": float(np.nanmean(rank_correlation(gb0, gb))),
                     "cam_rank_corr": float(np.nanmean(rank_correlation(cam0, cam)))})
    return pd.DataFrame(rows)


def plot_randomisation(table: pd.DataFrame, cam_name: str = "Grad-CAM"):
    """Rank correlation with the trained model's maps as more top layers are randomised."""
    import matplotlib.pyplot as plt  # lazy: plotting only; the CLI and training paths never load matplotlib

    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    labels = ["trained"] + [f"+{n}" for n in table["randomised"].iloc[1:]]
    ax.plot(range(len(table)), table["gb_rank_corr"], "o-", label="guided backprop")
    ax.plot(range(len(table)), table["cam_rank_corr"], "s-", label=cam_name)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(range(len(table)), labels, rotation=30, ha="right")
    ax.set_ylim(-0.3, 1.05)
    ax.set_ylabel("Spearman rank corr. with trained")
    ax.set_title("Cascading randomisation (top layers first)")
    ax.legend(loc="lower left", frameon=False)
    fig.tight_layout()
    return fig


def randomisation_text(table: pd.DataFrame, cam_name: str, top: int = 2, unchanged: float = UNCHANGED) -> str:
    """The sanity-check sentence: the rank correlations after the top ``top`` layers are randomised, and for each
    map whether it stayed (correlation above ``unchanged``: it does not depend on the weights there) or changed."""
    row = table[table["step"] == min(top, len(table) - 1)].iloc[0]
    layers = ", ".join(table["randomised"].iloc[1:top + 1])
    full = table.iloc[-1]

    def verdict(name, value):
        if value > unchanged:
            return (f"{name} **hardly changes** (rank correlation {value:.2f}): it does not depend on those weights, "
                    "so it shows image structure (edges) more than the model's evidence")
        return f"{name} **changes** (rank correlation {value:.2f}): it depends on the trained weights"

    return (f"Model-randomisation check (Adebayo et al. 2018): with the top {top} layers ({layers}) re-initialised, "
            f"{verdict('guided backprop', row['gb_rank_corr'])}; {verdict(cam_name, row['cam_rank_corr'])}. "
            f"With every layer randomised the correlations are {full['gb_rank_corr']:.2f} and "
            f"{full['cam_rank_corr']:.2f}.")


def choice_text(choice: dict, n_per_class: int) -> str:
    """Which explainer the ``guided_gradcam.jpg`` rows use and why (the validation score, or the parameter)."""
    name = f"**{choice['method']} @ {choice['layer']}**"
    if choice.get("by") == "parameter":
        return (f"The `guided_gradcam.jpg` rows use {name}, set by the `EXPLAINER` parameter; "
                "`guided_gradcam_last_conv.jpg` beside it shows the assignment's Grad-CAM at `last_conv`.")
    text = (f"The `guided_gradcam.jpg` rows use {name}: of the candidates it puts the most CAM mass inside the true "
            f"emotion's AU regions on {n_per_class} generated validation faces per emotion "
            f"({choice['score']:.0%}, chance {choice['chance']:.0%}; Grad-CAM at `last_conv`: "
            f"{choice['last_conv_score']:.0%}). ")
    if choice["method"] == "gradcam" and choice["layer"] == "last_conv":
        return text + "That is the assignment's layer itself, so `guided_gradcam_last_conv.jpg` shows the same maps."
    return text + ("`guided_gradcam_last_conv.jpg` beside it shows the assignment's version: at `last_conv` the map is "
                   "3x3 (a 48x48 face is 3x3 after four halvings), so upsampled it can only be a blob.")
