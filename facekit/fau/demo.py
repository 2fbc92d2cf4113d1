"""The FAU demo: per-subject heatmap overlays (the assignment's ``visualize/`` folder), the subjects x AUs
intensity table, a static grid, and an ipywidgets browser that only shows what is already computed.

:class:`FAUResults` holds one set of faces with their predicted heatmaps and intensities (and the true intensities
when known); everything here draws from it, so the widget and the saved figures show the same numbers.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from facekit.fau.model import FAU_AUS
from facekit.plotting import add_colorbar, show_image
from facekit.assets import au_region_map_path
from facekit.fau.heatmaps import peak_locations
from facekit.fau.heatmaps import read_intensities
from facekit.fau.points import AU_POINTS
from facekit.fau.train import predict_heatmaps
from facekit.io import save_fig
import html

AU_NAMES = {6: "cheek raiser", 10: "upper lip raiser", 12: "lip corner puller", 14: "dimpler", 17: "chin raiser"}
AU_LABELS = [f"AU{a}" for a in FAU_AUS]


@dataclass
class FAUResults:
    """Faces (uint8 (N, S, S) grey or (N, 3, S, S)), heatmaps (N, 10, m, m), predicted (N, 5) and optionally true
    (N, 5) intensities, one name per face."""

    images: np.ndarray
    heatmaps: np.ndarray
    predicted: np.ndarray
    names: list[str]
    true: np.ndarray | None = None
    title: str = ""
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)

    def table(self, which: str = "predicted") -> pd.DataFrame:
        """Subjects x AUs intensities (``which`` = "predicted" or "true")."""
        values = self.predicted if which == "predicted" else self.true
        if values is None:
            raise ValueError(f"No {which} intensities for {self.title or 'these faces'}.")
        df = pd.DataFrame(np.round(values, 2), index=list(self.names), columns=AU_LABELS)
        df.index.name = "subject"
        return df

    def au_map(self, i: int, au_pos: int) -> np.ndarray:
        """The AU's two maps combined (pixel-wise max), upsampled to the face size."""
        hm = torch.as_tensor(self.heatmaps[i, 2 * au_pos:2 * au_pos + 2]).amax(0, keepdim=True)[None].float()
        size = self.images.shape[-1]
        return torch.nn.functional.interpolate(hm, size=(size, size), mode="bilinear",
                                               align_corners=False)[0, 0].numpy()


def predict_results(model, images, names, true=None, title: str = "", notes=None) -> FAUResults:
    """Run the model on uint8 faces and collect everything the demo shows."""
    images = np.asarray(images)
    hm = predict_heatmaps(model, images)
    pred = read_intensities(hm, model.config.maps_per_au).numpy()
    return FAUResults(images, hm.numpy(), pred, list(names), None if true is None else np.asarray(true, float),
                      title, list(notes or []))


def _au_title(res: FAUResults, i: int, j: int) -> str:
    t = f"AU{FAU_AUS[j]} pred {res.predicted[i, j]:.2f}"
    if res.true is not None:
        t += f"\ntrue {res.true[i, j]:.2f}"
    return t


def _draw_overlay(ax, res: FAUResults, i: int, j: int, opacity: float = 0.5) -> None:
    """Face ``i`` with AU ``j``'s heatmap over it (colour scale 0-5, so a faint map means a weak AU)."""
    show_image(ax, res.images[i])
    ax.imshow(np.clip(res.au_map(i, j), 0, 5), cmap="jet", alpha=float(opacity), vmin=0, vmax=5)
    ax.set_title(_au_title(res, i, j), fontsize=8)


def subject_figure(res: FAUResults, i: int, opacity: float = 0.5):
    """One subject: the face, then its five AU heatmaps overlaid, predicted (and true) intensity in each title."""
    fig, axes = plt.subplots(1, 6, figsize=(12, 2.6))
    show_image(axes[0], res.images[i])
    axes[0].set_title(res.names[i], fontsize=9)
    for j in range(len(FAU_AUS)):
        _draw_overlay(axes[j + 1], res, i, j, opacity)
    fig.tight_layout()
    add_colorbar(fig, axes[1:], vmin=0, vmax=5, label="AU intensity (0-5)")
    return fig


def save_visualize(res: FAUResults, folder: str = "visualize", out_dir=None) -> list:
    """Save one overlay figure per subject as ``<out>/<folder>/<subject>.png`` (like the assignment's
    ``visualize/``); returns the paths."""

    paths = []
    for i, name in enumerate(res.names):
        fig = subject_figure(res, i)
        paths.append(save_fig(fig, f"{folder}/{name}", out_dir))
        plt.close(fig)
    return paths


def table_figure(table: pd.DataFrame, title: str = "", highlight: str | None = "AU17"):
    """Seaborn heatmap of an intensity table (0-5 scale, values written in); the row or column ``highlight`` (an
    AU or a subject) is boxed in red."""
    import seaborn as sns  # lazy: plotting only

    fig, ax = plt.subplots(figsize=(1.1 * table.shape[1] + 2, 0.45 * table.shape[0] + 1.4))
    sns.heatmap(table, annot=True, fmt=".2f", vmin=0, vmax=5, cmap="viridis", ax=ax, cbar_kws={"label": "intensity"})
    if highlight in table.columns:
        col = list(table.columns).index(highlight)
        ax.add_patch(plt.Rectangle((col, 0), 1, table.shape[0], fill=False, edgecolor="red", lw=3))
    elif highlight in table.index:
        row = list(table.index).index(highlight)
        ax.add_patch(plt.Rectangle((0, row), table.shape[1], 1, fill=False, edgecolor="red", lw=3))
    ax.set_title(title)
    ax.set_ylabel("")
    fig.tight_layout()
    return fig


def grid_figure(res: FAUResults, opacity: float = 0.5, max_subjects: int = 10):
    """Static grid, subjects x AUs overlays: what the browser shows, for papermill and CI."""
    n = min(len(res), max_subjects)
    fig, axes = plt.subplots(n, 6, figsize=(11, 2.1 * n), squeeze=False)
    for i in range(n):
        show_image(axes[i, 0], res.images[i])
        axes[i, 0].set_title(res.names[i], fontsize=8)
        for j in range(len(FAU_AUS)):
            _draw_overlay(axes[i, j + 1], res, i, j, opacity)
    fig.tight_layout()
    add_colorbar(fig, axes[:, 1:], vmin=0, vmax=5, label="AU intensity (0-5)")
    return fig


def peak_distances(res: FAUResults, points) -> pd.DataFrame:
    """Distance (image pixels) from each AU map's peak to the true point it should sit on, per subject and AU
    (mean of left and right); only meaningful where the AU is present."""

    hm = torch.as_tensor(res.heatmaps)
    scale = res.images.shape[-1] / hm.shape[-1]
    peaks = (peak_locations(hm).float() + 0.5) * scale - 0.5                       # (N, 10, 2) image pixels
    pts = torch.as_tensor(np.asarray(points), dtype=torch.float32).reshape(len(res), -1, 2)
    dist = (peaks - pts).norm(dim=-1).reshape(len(res), len(FAU_AUS), 2).mean(-1)
    return pd.DataFrame(dist.numpy(), index=list(res.names), columns=AU_LABELS)


def variation_summary(table: pd.DataFrame) -> dict:
    """How intensities vary across subjects (per AU: range) and across AUs (per AU: mean), for the answers."""
    spread = table.max() - table.min()
    means = table.mean()
    return {
        "most_variable_au": str(spread.idxmax()), "most_variable_range": float(spread.max()),
        "least_variable_au": str(spread.idxmin()), "least_variable_range": float(spread.min()),
        "strongest_au": str(means.idxmax()), "strongest_mean": float(means.max()),
        "weakest_au": str(means.idxmin()), "weakest_mean": float(means.min()),
        "most_active_subject": str(table.sum(axis=1).idxmax()),
        "least_active_subject": str(table.sum(axis=1).idxmin()),
        "mean_subject_spread": float(table.std(axis=0).mean()), "mean_au_spread": float(table.std(axis=1).mean()),
    }


class AUBrowser:
    """Browse precomputed overlays: subject, AU and overlay opacity. :meth:`render` is pure (results in, Figure
    out); :meth:`widget` wires it to ipywidgets."""

    def __init__(self, results: FAUResults):
        self.results = results

    def render(self, subject: str | int, au: str | int, opacity: float = 0.5):
        """Figure of one subject's AU heatmap over the face, intensity in the title."""
        res = self.results
        i = res.names.index(subject) if isinstance(subject, str) else int(subject)
        if isinstance(au, str):
            j = AU_LABELS.index(au)
        else:
            j = list(FAU_AUS).index(au) if au in FAU_AUS else int(au)
        fig, ax = plt.subplots(figsize=(3.4, 3.6))
        _draw_overlay(ax, res, i, j, opacity)
        ax.set_title(f"{res.names[i]}: AU{FAU_AUS[j]} ({AU_NAMES[FAU_AUS[j]]})\n" + _au_title(res, i, j).replace(
            "\n", ", "), fontsize=9)
        fig.tight_layout()
        return fig

    def describe(self, subject: str | int, au: str | int) -> str:
        """One line of text with the intensity shown, e.g. ``subject_1 AU17 intensity: predicted 1.17, true 4.10``."""
        res = self.results
        i = res.names.index(subject) if isinstance(subject, str) else int(subject)
        j = AU_LABELS.index(au) if isinstance(au, str) else (list(FAU_AUS).index(au) if au in FAU_AUS else int(au))
        text = f"{res.names[i]} AU{FAU_AUS[j]} intensity: predicted {res.predicted[i, j]:.2f}"
        return text + (f", true {res.true[i, j]:.2f}" if res.true is not None else "")

    def widget(self):
        """Dropdowns for subject and AU, a slider for opacity; a text line with the intensity (:meth:`describe`)
        and the output area with :meth:`render`."""

        import ipywidgets as w  # lazy: widgets exist only in a notebook front end
        from IPython.display import display  # lazy: display exists only inside a kernel

        subject = w.Dropdown(options=list(self.results.names), description="subject")
        au = w.Dropdown(options=AU_LABELS, value="AU17", description="AU")
        opacity = w.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="opacity")
        intensity = w.HTML()
        out = w.Output()

        def show(*_):
            intensity.value = f"<b>{html.escape(self.describe(subject.value, au.value))}</b>"
            with out:
                out.clear_output(wait=True)
                fig = self.render(subject.value, au.value, opacity.value)
                display(fig)
                plt.close(fig)

        for control in (subject, au, opacity):
            control.observe(show, names="value")
        show()
        return w.VBox([w.HBox([subject, au, opacity]), intensity, out])


def au_region_reference() -> pd.DataFrame:
    """Our two heatmap points per AU next to py-feat's ``au_region_map.json`` (muscles and mesh-region size): a real
    FACS reference for where each AU moves the face."""

    regions = json.loads(au_region_map_path().read_text())["regions"]
    rows = []
    for a in FAU_AUS:
        r = regions.get(f"AU{a:02d}", {})
        rows.append({"au": f"AU{a}", "name": AU_NAMES[a], "our_points": " / ".join(AU_POINTS[a]),
                     "pyfeat_muscles": ", ".join(r.get("muscles", [])) or "-",
                     "pyfeat_mesh_vertices": r.get("n_vertices", len(r.get("mp478_vertices", [])))})
    return pd.DataFrame(rows).set_index("au")


#: An AU intensity at or above this (on the 0-5 scale) is read as a clear activation.
_CLEAR_AU = 2.0


def real_photo_au_text(table: pd.DataFrame, labels, au: str = "AU6", expected: str = "happy",
                       clear: float = _CLEAR_AU) -> str:
    """Discuss one AU on the real photos from the numbers: ``table`` (subject x AU predicted intensities),
    ``labels`` (each photo's true emotion). ``au`` belongs to the ``expected`` emotion (AU6: happiness, EMFACS
    6+12). Rule: the photos of *other* emotions that read ``au`` >= ``clear``; if there are any and they read at
    least 3/4 of the expected photos' mean, the model reads the AU regardless of expression (a bias); weaker: a
    partial bias; none: no sign of bias."""
    values = table[au].astype(float)
    labels = list(labels)
    on = [n for n in values.index if values[n] >= clear]
    other = [n for n, lab in zip(values.index, labels) if lab != expected]
    same = [n for n, lab in zip(values.index, labels) if lab == expected]
    off_on = [n for n in other if values[n] >= clear]
    lab_of = dict(zip(values.index, labels))
    text = (f"{au} reads >= {clear:g} on **{len(on)} of {len(values)}** real photos ("
            + ", ".join(f"{n} [{lab_of[n]}]: {values[n]:.2f}" for n in values.index) + "). ")
    if not other:
        return text + f"All photos are {expected}, so a bias of {au} cannot be judged here."
    mean_other = values[other].mean()
    mean_same = values[same].mean() if same else float("nan")
    text += (f"{au} belongs to {expected} (EMFACS); on the {len(other)} other photos it averages {mean_other:.2f}"
             + (f", on the {expected} ones {mean_same:.2f}." if same else "."))
    if off_on and (not same or values[off_on].mean() >= 0.75 * mean_same):
        return text + (" It is clearly on for " + ", ".join(f"{n} ({lab_of[n]})" for n in off_on)
                       + f": the model reads {au} on real faces **whatever the expression**, a bias on real photos "
                       f"(a plausible cause, not measured here: real skin texture and the shading under the eyes "
                       f"resemble the generator's cheek-raiser wrinkles; the {au} column of `real_grid.png` shows where "
                       f"the heat sits). On real photos its {au} values are not evidence of a smile.")
    if off_on:
        return text + (" It is on for " + ", ".join(f"{n} ({lab_of[n]})" for n in off_on)
                       + f" too, though weaker than on the {expected} photos: a partial bias on real faces.")
    return text + f" It stays below {clear:g} on every non-{expected} photo: no sign of a bias here."
