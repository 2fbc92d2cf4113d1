"""The Grad-CAM explorer of ``03_gradcam``: pick a face (``test``, ``test2``, real photos), a CAM method, a layer and
the class to explain (the prediction or any emotion); see the map, guided Grad-CAM and how much of the map falls in
the true AU regions.

:func:`explorer_figure` is the update (face and choices in, Figure out); :class:`GradCamExplorer` wires it to
ipywidgets. The true regions come from the generator: a synthetic case is re-rendered with its geometry
(:func:`_case_region_mask`); a real photo has none, and the figure says so instead of scoring it.
"""
from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
import torch

from facekit.data.fer import EMOTIONS
from facekit.explain.cam import METHODS
from facekit.emotion.xception import preprocess
from facekit.explain.cam import cam_overlay
from facekit.explain.cam import gradient_image
from facekit.explain.cam import guided_gradcam
from facekit.explain.cam import mask_area
from facekit.explain.cam import pointing_game
from facekit.explain.cam import region_share
from facekit.explain.cases import TEST2_CASES
from facekit.explain.cases import TEST_CASES
from facekit.explain.cases import emotion_region_masks
from facekit.explain.cases import load_cases
from facekit.explain.cases import render_case_batch
from facekit.plotting import show_image
from facekit.widgets.live import Debouncer
from facekit.widgets.live import figure_png

#: The layers offered, from the class maps back towards the input.
LAYERS = ("last_conv", "block4", "block3", "block2", "block1")
#: The target choices: the model's own prediction, or any emotion.
CAM_TARGETS = ("predicted", *EMOTIONS)


@dataclass
class ExplorerFaces:
    """The faces the explorer offers: uint8 (N, S, S), display names, true labels (or None), and per face the
    true AU-region mask (bool (S, S)) or None when the ground truth is unknown (real photos)."""

    images: np.ndarray
    names: list[str]
    labels: list[str | None]
    masks: list[np.ndarray | None]

    def index(self, name: str) -> int:
        if name not in self.names:
            raise ValueError(f"No face {name!r} in the explorer; choose one of {', '.join(self.names)}.")
        return self.names.index(name)


def _case_region_mask(case, size: int = 48) -> np.ndarray:
    """bool (size, size): the regions of the case's active prototype AUs on the case's own rendered face."""
    return emotion_region_masks(render_case_batch(case, size))[0]


def load_explorer_faces(size: int = 48, test_dir=None, test2_dir=None, with_real: bool = True) -> ExplorerFaces:
    """``test`` and ``test2`` faces (plus the real photos) with the true AU regions of every synthetic case."""
    cases = {c.name: c for c in (*TEST_CASES, *TEST2_CASES)}
    images, names, labels, masks = [], [], [], []
    for which, folder in (("test", test_dir), ("test2", test2_dir)):
        crops = load_cases(which, folder=folder, size=size, with_real=with_real)
        for i, name in enumerate(crops.names):
            real = crops.extra["sources"][i] is None
            images.append(crops.images[i].numpy())
            names.append(f"{'real' if real else which}/{name}")
            labels.append(crops.emotion_names[i])
            masks.append(_case_region_mask(cases[name], size) if name in cases and not real else None)
    return ExplorerFaces(np.stack(images), names, labels, masks)


def _explain_face(model, face: np.ndarray, method: str = "gradcam", layer: str = "last_conv",
                 target: str = "predicted"):
    """:func:`facekit.explain.guided_gradcam` for one uint8 face and a target name from :data:`CAM_TARGETS`."""
    if target not in CAM_TARGETS:
        raise ValueError(f"target must be one of {', '.join(CAM_TARGETS)}, got {target!r}.")
    x = preprocess(torch.as_tensor(np.asarray(face))[None])
    targets = None if target == "predicted" else [EMOTIONS.index(target)]
    return guided_gradcam(model, x, targets, method=method, layer=layer)


def region_text(cam: np.ndarray, mask: np.ndarray | None) -> str:
    """One line: share of the CAM inside the true AU regions vs the share a uniform map would get, and whether the
    peak lands inside; says plainly when there is no ground truth or the map is empty."""

    if mask is None or not mask.any():
        return "no true AU regions for this face (real photo or neutral): no region score"
    share = float(region_share(cam[None], mask[None])[0])
    chance = float(mask_area(mask[None])[0])
    if np.isnan(share):
        return f"empty map (no positive evidence for this class here): no region score; chance {chance:.0%}"
    hit = bool(pointing_game(cam[None], mask[None])[0])
    verdict = "above" if share > chance else "not above"
    return (f"region score {share:.0%} of the map in the true AU regions, {verdict} chance ({chance:.0%}); "
            f"peak {'inside' if hit else 'outside'} them")


def explorer_figure(model, faces: ExplorerFaces, name: str, method: str = "gradcam", layer: str = "last_conv",
                    target: str = "predicted"):
    """The update function: face, CAM overlay, guided backprop, guided Grad-CAM and the true regions with the
    region score, for one choice of the explorer's controls."""
    from matplotlib.figure import Figure  # lazy: plotting only; the CLI and training paths never load matplotlib


    i = faces.index(name)
    e = _explain_face(model, faces.images[i], method, layer, target)
    pred, tgt = EMOTIONS[int(e.pred[0])], EMOTIONS[int(e.target[0])]
    fig = Figure(figsize=(10, 3.1))
    axes = fig.subplots(1, 5)
    true = faces.labels[i] or "unknown"
    show_image(axes[0], faces.images[i], f"{name}\ntrue {true}, pred {pred} {e.probs[0].max():.0%}")
    axes[1].imshow(cam_overlay(faces.images[i], e.cam[0]))
    axes[1].set_title(f"{method} @ {layer}\nfor {tgt} (p {e.probs[0, int(e.target[0])]:.0%})", fontsize=8)
    axes[2].imshow(gradient_image(e.gb[0][..., None])[..., 0], cmap="gray")
    axes[2].set_title("guided backprop", fontsize=8)
    axes[3].imshow(gradient_image(e.ggc[0][..., None])[..., 0], cmap="gray")
    axes[3].set_title("guided Grad-CAM", fontsize=8)
    mask = faces.masks[i]
    show_image(axes[4], faces.images[i])
    if mask is not None and mask.any():
        axes[4].imshow(np.ma.masked_where(~mask, mask), cmap="autumn", alpha=0.45)
        axes[4].contour(e.cam[0], levels=[0.5], colors="cyan", linewidths=1)
    axes[4].set_title("true AU regions (orange)\nmap > 0.5 (cyan)" if mask is not None else "no ground truth",
                      fontsize=8)
    for ax in axes:
        ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle(region_text(e.cam[0], mask), fontsize=9)
    fig.subplots_adjust(left=0.01, right=0.99, top=0.74, bottom=0.02, wspace=0.08)
    return fig


class GradCamExplorer:
    """``GradCamExplorer(model, faces).widget()``: dropdowns for face, method, layer and target class."""
    def __init__(self, model, faces: ExplorerFaces, threaded: bool = True):
        self.model, self.faces, self.threaded = model, faces, threaded
        self._ui = None

    def figure(self, name: str | None = None, method: str = "gradcam", layer: str = "last_conv",
               target: str = "predicted"):
        return explorer_figure(self.model, self.faces, name or self.faces.names[0], method, layer, target)

    def update(self, choice: dict):

        fig = self.figure(**choice)
        png = figure_png(fig, dpi=80)
        if self._ui is not None:
            self._ui["image"].value = png
            self._ui["text"].value = f"<b>{html.escape(fig._suptitle.get_text())}</b>"
        return png

    def widget(self):
        import ipywidgets as w  # lazy: widgets exist only in a notebook front end


        style = {"description_width": "60px"}
        face = w.Dropdown(options=self.faces.names, description="face", style=style)
        method = w.Dropdown(options=list(METHODS), value="gradcam", description="method", style=style)
        layer = w.Dropdown(options=list(LAYERS), value="last_conv", description="layer", style=style)
        target = w.Dropdown(options=list(CAM_TARGETS), value="predicted", description="target", style=style)
        image, text = w.Image(format="png", layout=w.Layout(width="820px")), w.HTML()
        self._ui = {"image": image, "text": text}

        def on_error(exc):
            text.value = f"<span style='color:#b00'>{html.escape(str(exc))}</span>"

        debounce = Debouncer(self.update, threaded=self.threaded, on_error=on_error)

        def changed(_=None):
            debounce.submit({"name": face.value, "method": method.value, "layer": layer.value,
                             "target": target.value})

        for control in (face, method, layer, target):
            control.observe(changed, names="value")
        self.update({"name": face.value, "method": method.value, "layer": layer.value, "target": target.value})
        return w.VBox([w.HBox([face, method]), w.HBox([layer, target]), text, image])
