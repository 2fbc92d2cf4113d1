"""Figures of explanations: the ``guided_gradcam.jpg`` rows, CAM method/layer grids, region-score plots.

Every function returns a matplotlib ``Figure``; notebooks save it with ``facekit.save_fig``.
"""
from __future__ import annotations

import numpy as np

from facekit.data.fer import EMOTIONS
from facekit.explain.cam import Explanation, cam_overlay, gradient_image
from facekit.plotting import add_colorbar


def _label(value, class_names) -> str:
    if value is None:
        return "?"
    return class_names[value] if isinstance(value, (int, np.integer)) else str(value)


def plot_guided_gradcam(expl: Explanation, names=None, true_labels=None, class_names=EMOTIONS,
                        title: str | None = None, notes=None):
    """One row per image: face (name, true label), prediction + probability, guided backprop, CAM overlay,
    guided Grad-CAM. ``true_labels`` are class indices or names (``None`` entries show "?")."""
    import matplotlib.pyplot as plt  # lazy: plotting only; the CLI and training paths never load matplotlib

    n = len(expl.faces)
    fig, axes = plt.subplots(n, 4, figsize=(8.4, 2.15 * n + (0.4 if title else 0)), squeeze=False)
    heads = ["face", "guided backprop", f"{expl.method} @ {expl.layer}", "guided Grad-CAM"]
    for i in range(n):
        true = _label(true_labels[i], class_names) if true_labels is not None else "?"
        pred = class_names[int(expl.pred[i])]
        ok = "" if true == "?" else (" ✓" if true == pred else " ✗")
        name = f"{names[i]}\n" if names is not None else ""
        panels = [expl.faces[i], gradient_image(expl.gb[i]), cam_overlay(expl.faces[i], expl.cam[i]),
                  gradient_image(expl.ggc[i])]
        for j, (ax, img) in enumerate(zip(axes[i], panels)):
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255)
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_title(heads[j], fontsize=9)
        axes[i, 0].set_ylabel(f"{name}true: {true}", fontsize=8)
        target = class_names[int(expl.target[i])]
        axes[i, 1].set_xlabel(f"pred: {pred} ({expl.probs[i, expl.pred[i]]:.0%}){ok}", fontsize=8)
        axes[i, 2].set_xlabel(f"explains: {target}", fontsize=8)
        if notes is not None and notes[i]:
            axes[i, 3].set_xlabel(str(notes[i]), fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / fig.get_figheight()))
    else:
        fig.tight_layout()
    add_colorbar(fig, axes[-1, 2], label="CAM (0: none, 1: map maximum)", location="bottom")
    return fig


def plot_cam_grid(faces: np.ndarray, cams: dict, names=None):
    """Rows = images, columns = the face then one CAM overlay per key of ``cams`` ({"label": (N, H, W)})."""
    import matplotlib.pyplot as plt  # lazy: plotting only; the CLI and training paths never load matplotlib

    n, keys = len(faces), list(cams)
    fig, axes = plt.subplots(n, len(keys) + 1, figsize=(1.7 * (len(keys) + 1), 1.75 * n), squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(faces[i], cmap="gray", vmin=0, vmax=255)
        if names is not None:
            axes[i, 0].set_ylabel(str(names[i]), fontsize=8)
        for j, key in enumerate(keys, start=1):
            axes[i, j].imshow(cam_overlay(faces[i], cams[key][i]))
            if i == 0:
                axes[i, j].set_title(str(key), fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    add_colorbar(fig, axes[:, 1:], label="CAM (0 to the map's maximum)")
    return fig


def plot_region_scores(summary):
    """Seaborn bars: region share (with chance as a marker) and pointing-game hit rate per emotion and method/layer."""
    import matplotlib.pyplot as plt  # lazy: plotting only; the CLI and training paths never load matplotlib
    import seaborn as sns  # lazy: plotting only

    data = summary[summary["emotion"] != "all"].copy()
    data["method @ layer"] = data["method"] + " @ " + data["layer"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), sharey=False)
    sns.barplot(data=data, x="emotion", y="region_share", hue="method @ layer", ax=axes[0])
    chance = data.groupby("emotion", sort=False)["chance"].mean()
    axes[0].scatter(range(len(chance)), chance.values, marker="_", s=600, color="black", zorder=5,
                    label="chance (region area)")
    axes[0].set_ylabel("share of CAM mass in the emotion's AU regions")
    handles, labels = axes[0].get_legend_handles_labels()
    axes[0].get_legend().remove()
    sns.barplot(data=data, x="emotion", y="pointing_hit", hue="method @ layer", ax=axes[1], legend=False)
    axes[1].set_ylabel("pointing-game hit rate")
    for ax in axes:
        ax.set_ylim(0, 1)
        ax.tick_params(axis="x", labelrotation=30)
    fig.tight_layout(rect=(0, 0.12, 1, 1))           # room below the axes: the legend never covers a bar
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize=7, frameon=False)
    return fig


def plot_before_after(table):
    """Bars of per-class recall and summary metrics, one colour per model (``table``: rows = metrics, columns =
    models such as ``before``, ``control``, ``after``)."""
    import matplotlib.pyplot as plt  # lazy: plotting only; the CLI and training paths never load matplotlib

    fig, ax = plt.subplots(figsize=(10, 3.6))
    shown = table.drop(index=[i for i in table.index if str(i).startswith("predicted")])
    shown.plot.bar(ax=ax, width=0.8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("score")
    ax.tick_params(axis="x", labelrotation=35)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)   # beside the bars
    notes = missing_bar_notes(table)
    fig.tight_layout(rect=(0, 0.08 * len(notes), 1, 1))
    for k, note in enumerate(notes):                   # below the axes, one line each: never over a bar
        fig.text(0.01, 0.08 * (len(notes) - k) - 0.05, "no bar: " + note, fontsize=7, va="bottom")
    return fig


def missing_bar_notes(table) -> list[str]:
    """Why a bar of :func:`plot_before_after` is missing: one note per undefined (NaN) cell, e.g. a disgust
    precision of a model that never predicts disgust (0 faces called disgust: precision is 0/0)."""
    notes = []
    for row in table.index:
        missing = [m for m in table.columns if not np.isfinite(float(table.loc[row, m]))]
        if not missing:
            continue
        who = ", ".join(missing)
        if str(row) == "precision disgust" and "predicted disgust" in table.index:
            notes.append(f"{row} of {who}: {'it calls' if len(missing) == 1 else 'each calls'} 0 faces disgust, so "
                         "precision is 0/0, undefined")
        else:
            notes.append(f"{row} of {who}: not defined in this run")
    return notes


def browse_cams(faces: np.ndarray, cams: dict, names=None):
    """An ipywidgets browser over already computed CAMs: pick a face and a method/layer (nothing is recomputed)."""
    import ipywidgets as widgets  # lazy: widgets exist only in a notebook front end
    import matplotlib.pyplot as plt  # lazy: plotting only; the CLI and training paths never load matplotlib

    keys = list(cams)
    face = widgets.IntSlider(0, 0, len(faces) - 1, description="face")
    key = widgets.Dropdown(options=keys, description="map")
    out = widgets.Output()

    def show(*_):
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(3, 3))
            ax.imshow(cam_overlay(faces[face.value], cams[key.value][face.value]))
            ax.set_title(f"{names[face.value] if names is not None else face.value}: {key.value}", fontsize=9)
            ax.axis("off")
            plt.show()

    face.observe(show, "value")
    key.observe(show, "value")
    show()
    return widgets.VBox([widgets.HBox([face, key]), out])
