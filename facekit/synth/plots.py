"""Figures of the synthetic faces (notebook 01): emotion grids, AU sweeps, class counts, landmark/region overlays.

Each function returns a matplotlib ``Figure``; notebooks save it with :func:`facekit.save_fig`.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib import patheffects
import numpy as np
import pandas as pd
import torch

from facekit.data.faceset import FaceSet
from facekit.data.fer import EMOTIONS, FER2013_COUNTS, SPLITS
from facekit.synth.facs import AU_NAMES, AUS, au_index
from facekit.synth.regions import au_region_masks
from facekit.synth.render import LANDMARK_NAMES, render_faces
from facekit.plotting import show_image


def plot_emotion_grid(images: torch.Tensor, labels: torch.Tensor, per_emotion: int = 6, title: str | None = None):
    """One row per emotion, ``per_emotion`` faces each (the first ones carrying that label)."""
    fig, axes = plt.subplots(len(EMOTIONS), per_emotion, figsize=(1.3 * per_emotion, 1.4 * len(EMOTIONS)),
                             squeeze=False)
    for e, name in enumerate(EMOTIONS):
        idx = torch.nonzero(labels == e).flatten()[:per_emotion]
        for j, ax in enumerate(axes[e]):
            if j < len(idx):
                show_image(ax, images[idx[j]])
            else:
                ax.axis("off")
        axes[e, 0].set_ylabel(name, fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def au_sweep(aus=(1, 4, 6, 12, 15, 26), levels=(0, 1, 2, 3, 4, 5), identity_seed: int = 0, size: int = 128,
             color: bool = True) -> FaceSet:
    """The same face (identity ``identity_seed``, clean frontal) with one AU at a time at each intensity."""
    au = torch.zeros(len(aus) * len(levels), len(AUS))
    for i, a in enumerate(aus):
        for j, v in enumerate(levels):
            au[i * len(levels) + j, au_index(a)] = float(v)
    return render_faces(len(au), seed=0, au=au, identity_seed=identity_seed, nuisance=False, size=size, color=color)


def plot_au_sweep(batch: FaceSet, aus=(1, 4, 6, 12, 15, 26), levels=(0, 1, 2, 3, 4, 5)):
    """Rows: AUs; columns: FACS intensity (0, A-E)."""
    letters = dict(zip(range(6), "0ABCDE"))
    fig, axes = plt.subplots(len(aus), len(levels), figsize=(1.6 * len(levels), 1.7 * len(aus)), squeeze=False)
    for i, a in enumerate(aus):
        for j, v in enumerate(levels):
            show_image(axes[i, j], batch.images[i * len(levels) + j],
                  f"{letters.get(int(v), v)}" if i == 0 else None, fontsize=10)
        axes[i, 0].set_ylabel(f"AU{a}\n{AU_NAMES[a]}", fontsize=8)
    fig.suptitle("One identity, one AU at a time, intensity 0 to E")
    fig.tight_layout()
    return fig


def class_count_table(data: FaceSet) -> pd.DataFrame:
    """Long table: split, emotion, faces in ``data`` and in real FER2013 (scaled to the same total per split)."""
    ours = data.class_counts()
    rows = []
    for split in SPLITS:
        total = ours[split].sum()
        fer_total = sum(FER2013_COUNTS[split])
        for e, name in enumerate(EMOTIONS):
            rows.append({"split": split, "emotion": name, "this data": int(ours.loc[name, split]),
                         "FER2013": int(FER2013_COUNTS[split][e]),
                         "FER2013 scaled": FER2013_COUNTS[split][e] * total / fer_total})
    return pd.DataFrame(rows)


def plot_class_counts(table: pd.DataFrame):
    """Seaborn bars: this data's class counts next to FER2013's (scaled to the same size), per split."""
    import seaborn as sns  # lazy: about 2 s to import, and only this plot needs it

    long = table.melt(id_vars=["split", "emotion"], value_vars=["this data", "FER2013 scaled"],
                      var_name="source", value_name="faces")
    fig, axes = plt.subplots(1, len(SPLITS), figsize=(13, 3.6))
    for ax, split in zip(axes, SPLITS):
        sns.barplot(data=long[long.split == split], x="emotion", y="faces", hue="source", ax=ax,
                    palette=["#4c72b0", "#dd8452"])
        ax.set_title(split)
        ax.tick_params(axis="x", rotation=45)
        ax.set_xlabel("")
        if ax is not axes[0]:
            ax.get_legend().remove()
    fig.tight_layout()
    return fig


def plot_landmarks_and_regions(batch: FaceSet, index: int = 0, aus=(1, 4, 6, 9, 12, 17)):
    """One face with its named landmarks, then the region mask of each AU in ``aus`` over it."""
    masks = au_region_masks(batch.subset([index]), aus)[0]
    fig, axes = plt.subplots(1, 1 + len(aus), figsize=(2.3 * (2 + len(aus)), 3.6),
                             gridspec_kw={"width_ratios": [2.2] + [1] * len(aus)})
    img = batch.images[index]
    show_image(axes[0], img, "landmarks", fontsize=9)
    pts = batch.landmarks[index].numpy()
    axes[0].scatter(pts[:, 0], pts[:, 1], s=8, c="#ff3b30")
    axes[0].set_xlim(-0.5, img.shape[-1] - 0.5)
    axes[0].set_ylim(img.shape[-2] - 0.5, -0.5)
    for k, name in enumerate(LANDMARK_NAMES):
        if name in ("mouth_corner_l", "eye_l", "nose_tip", "chin", "brow_inner_r"):
            label = axes[0].annotate(name, pts[k], fontsize=8, color="yellow", xytext=(3, -3),
                                     textcoords="offset points")
            label.set_path_effects([patheffects.withStroke(linewidth=2, foreground="black")])
    gray = img.float().mean(0) if img.ndim == 3 else img.float()
    for ax, a, m in zip(axes[1:], aus, masks):
        show_image(ax, gray.to(torch.uint8), f"AU{a} region", fontsize=9)
        overlay = np.zeros((*m.shape, 4))
        overlay[m.numpy()] = (1.0, 0.2, 0.2, 0.4)
        ax.imshow(overlay)
    fig.tight_layout()
    return fig


def plot_domains(lab: FaceSet, wild: FaceSet, n: int = 8):
    """Two rows: faces from the ``lab`` domain, then from the shifted ``wild`` domain."""
    fig, axes = plt.subplots(2, n, figsize=(1.5 * n, 3.4), squeeze=False)
    for row, (batch, name) in enumerate(((lab, "lab"), (wild, "wild"))):
        for j in range(n):
            show_image(axes[row, j], batch.images[j], EMOTIONS[int(batch.emotion[j])] if j < len(batch) else None)
        axes[row, 0].set_ylabel(name)
    fig.tight_layout()
    return fig


def au_oracle_accuracy(data: FaceSet, seed: int = 0) -> dict[str, float]:
    """How much the true AUs alone tell: a logistic regression from AU intensities to the label, trained on
    Training and scored on PrivateTest against the noisy labels and the true emotions. An upper bound of sorts
    for any image model, since the pixels only carry the AUs through identity and nuisances."""
    from sklearn.linear_model import LogisticRegression  # lazy: about 2 s to import, only this score needs it

    train, test = data.split("Training"), data.split("PrivateTest")
    model = LogisticRegression(max_iter=2000, random_state=seed).fit(train.au.numpy(), train.emotion.numpy())
    pred = model.predict(test.au.numpy())
    recall = [(pred[test.emotion.numpy() == e] == e).mean() if (test.emotion == e).any() else float("nan")
              for e in range(len(EMOTIONS))]
    return {"au_oracle_accuracy": float((pred == test.emotion.numpy()).mean()),
            "au_oracle_accuracy_true_emotion": float((pred == test.clean_emotion.numpy()).mean()),
            "au_oracle_recall_disgust": float(recall[EMOTIONS.index("disgust")]),
            "label_noise_rate": float((data.emotion != data.clean_emotion).float().mean())}
