"""Figures of Task 1: loss and accuracy curves (train / public / private) and the confusion matrix.

Each function returns a matplotlib ``Figure``; the notebook saves it with ``facekit.save_fig``.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

_CURVES = (("train", "training (augmented crops)", "-"), ("public", "PublicTest", "--"),
           ("private", "PrivateTest", ":"))


def _plot_curves(history: pd.DataFrame, metric: str, ylabel: str, title: str, chance: float | None = None):
    if history is None or len(history) == 0:
        raise ValueError("The training history is empty: train at least one epoch before plotting curves.")
    # Task 1 Q2: one Figure with one line per split (columns train_/public_/private_<metric> against epoch, labelled
    # with _CURVES), the chance line if given, labelled axes, a title and a legend.
    ### BEGIN SOLUTION
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label, style in _CURVES:
        column = f"{key}_{metric}"
        if column in history and history[column].notna().any():
            ax.plot(history["epoch"], history[column], style, marker="o", markersize=3, label=label)
    if chance is not None:
        ax.axhline(chance, color="grey", lw=0.8, label="chance (majority class)")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))   # epochs are whole numbers
    if len(history) == 1:
        ax.set_xticks(history["epoch"])
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig
    ### END SOLUTION


def plot_loss(history: pd.DataFrame):
    """Cross-entropy per epoch: training, PublicTest and PrivateTest."""
    # Task 1 Q2: plot_loss: the loss curves (metric 'loss') with a y label and a title; return the Figure.
    ### BEGIN SOLUTION
    return _plot_curves(history, "loss", "cross-entropy loss", "Loss per epoch")
    ### END SOLUTION


def plot_acc(history: pd.DataFrame, chance: float | None = None):
    """Accuracy per epoch: training, PublicTest and PrivateTest (``chance``: an optional reference line)."""
    # Task 1 Q2: plot_acc: the accuracy curves (metric 'acc') with a y label, a title and the optional chance line;
    # return the Figure.
    ### BEGIN SOLUTION
    fig = _plot_curves(history, "acc", "accuracy", "Accuracy per epoch", chance)
    fig.axes[0].yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    return fig
    ### END SOLUTION


def plot_confusion(cm: pd.DataFrame, title: str = "Confusion matrix (rows sum to 100 %)"):
    """A seaborn heat map of a confusion matrix DataFrame (rows = true, columns = predicted), e.g. from
    ``facekit.emotion.confusion(..., normalize=True)``; fractions are shown as percentages."""
    normalized = cm.to_numpy().dtype.kind == "f"
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    sns.heatmap(cm * 100 if normalized else cm, annot=True, fmt=".0f" if normalized else "d", cmap="Blues",
                cbar_kws={"label": "% of the true class" if normalized else "faces"}, ax=ax, square=True)
    ax.set_xlabel("predicted emotion")
    ax.set_ylabel("true emotion")
    ax.set_title(title)
    fig.tight_layout()
    return fig
