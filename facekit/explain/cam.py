"""Explanations of the emotion classifier: the ONE place that calls the ``grad-cam`` package.

* :func:`compute_cams`: Grad-CAM, HiResCAM, Grad-CAM++, XGrad-CAM, LayerCAM, EigenCAM by name, at a target layer
  named like ``"last_conv"``, ``"block3"`` or ``"block2.sep2"``; CAM objects live in ``with`` blocks so their hooks
  are released even when something fails.
* :func:`guided_backprop`: the package's ``GuidedBackpropReLUModel`` handles one image at a time; this loops over the
  batch, returns (N, H, W), and puts the model's ReLUs (and train/eval mode) back afterwards, whatever happens.
* :func:`guided_gradcam`: both of the above plus the predictions, for the ``guided_gradcam.jpg`` rows.
* Measured explanations: :func:`region_share` (share of CAM mass inside a mask), :func:`pointing_game` (CAM maximum
  inside the mask) and :func:`road_scores` (the package's ROAD faithfulness, higher = more faithful).

All functions take the model's float input ``x`` (N, 1, H, W) (``facekit.emotion.preprocess``) and class targets as
integers (FER2013 order); ``None`` explains the predicted class.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from facekit.runtime import adapt_threads
from facekit.emotion.xception import deprocess
from tqdm.auto import tqdm
import pandas as pd

#: CAM methods by name -> class name in ``pytorch_grad_cam``.
METHODS: dict[str, str] = {
    "gradcam": "GradCAM",
    "hirescam": "HiResCAM",
    "gradcam++": "GradCAMPlusPlus",
    "xgradcam": "XGradCAM",
    "layercam": "LayerCAM",
    "eigencam": "EigenCAM",
}


def cam_class(method: str):
    """The ``pytorch_grad_cam`` class for a method name (see :data:`METHODS`)."""
    import pytorch_grad_cam  # lazy: grad-cam loads only when a map is drawn

    key = method.lower().replace("-", "").replace("_", "").replace(" ", "")
    if key not in METHODS:
        raise ValueError(f"Unknown CAM method {method!r}; choose one of {', '.join(METHODS)}.")
    return getattr(pytorch_grad_cam, METHODS[key])


def target_layer(model: nn.Module, name: str) -> nn.Module:
    """The sub-module of ``model`` called ``name`` (dotted, e.g. ``"block3"`` or ``"block2.sep2"``)."""
    modules = dict(model.named_modules())
    if name not in modules or not name:
        tops = [n for n, _ in model.named_children()]
        raise ValueError(f"Model has no layer {name!r}; top-level layers are {', '.join(tops)} "
                         "(dotted names reach inside, e.g. 'block3.sep2').")
    return modules[name]


def _targets(model: nn.Module, x: torch.Tensor, targets) -> list[int]:
    if targets is None:  # in eval mode: a forward pass in train mode would update BatchNorm's running statistics
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                return model(x).argmax(1).tolist()
        finally:
            model.train(was_training)
    targets = [int(t) for t in (targets.tolist() if hasattr(targets, "tolist") else targets)]
    if len(targets) != len(x):
        raise ValueError(f"Got {len(targets)} targets for {len(x)} images; pass one class index per image.")
    return targets


def _check_input(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or not x.is_floating_point():
        raise ValueError("Explanations need the model's float input (N, C, H, W): "
                         "use facekit.emotion.preprocess(uint8 faces).")


def compute_cams(model: nn.Module, x: torch.Tensor, targets=None, method: str = "gradcam",
                 layer: str = "last_conv") -> np.ndarray:
    """Class activation maps (N, H, W) in [0, 1] at the input resolution, for ``targets`` (default: predictions).

    Each map is scaled to a maximum of 1 by the package (all-zero when the class has no positive evidence there).
    """
    # lazy: grad-cam loads only when a map is drawn
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    _check_input(x)
    was_training = model.training
    cls, module = cam_class(method), target_layer(model, layer)
    classes = _targets(model, x, targets)
    cams = None
    try:
        with cls(model=model, target_layers=[module]) as cam:
            cams = cam(input_tensor=x, targets=[ClassifierOutputTarget(c) for c in classes])
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    if cams is None:  # the package's __exit__ swallows IndexError and only prints it
        raise RuntimeError(f"{method} at {layer!r} failed (see the message printed above).")
    return np.asarray(cams, dtype=np.float32)


def guided_backprop(model: nn.Module, x: torch.Tensor, targets=None) -> np.ndarray:
    """Guided backpropagation (N, H, W): gradients of each target logit w.r.t. the input through 'guided' ReLUs."""
    from pytorch_grad_cam import GuidedBackpropReLUModel  # lazy: grad-cam loads only when a map is drawn

    _check_input(x)
    was_training = model.training
    classes = _targets(model, x, targets)
    # the package swaps every nn.ReLU for a guided one and back for ONE shared new ReLU (or not at all after an
    # error): remember the originals and put exactly those back
    relus = [(parent, name, child) for parent in model.modules() for name, child in parent.named_children()
             if isinstance(child, nn.ReLU)]
    out = []
    try:
        gb = GuidedBackpropReLUModel(model=model)
        for i, c in enumerate(classes):
            grad = gb(x[i:i + 1].detach().clone(), target_category=c)   # (H, W, C)
            out.append(np.asarray(grad).transpose(2, 0, 1).sum(0))
    finally:
        for parent, name, child in relus:
            setattr(parent, name, child)
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return np.stack(out).astype(np.float32)


@dataclass
class Explanation:
    """What one ``guided_gradcam.jpg`` row shows, for N images (arrays indexed by image).

    ``faces`` uint8 (N, H, W) as the model saw them; ``probs`` (N, classes); ``pred`` predicted class;
    ``target`` the class explained; ``gb`` guided backprop (N, H, W); ``cam`` (N, H, W) in [0, 1];
    ``ggc`` guided Grad-CAM = gb * cam.
    """

    faces: np.ndarray
    probs: np.ndarray
    pred: np.ndarray
    target: np.ndarray
    gb: np.ndarray
    cam: np.ndarray
    ggc: np.ndarray
    method: str
    layer: str


def guided_gradcam(model: nn.Module, x: torch.Tensor, targets=None, method: str = "gradcam",
                   layer: str = "last_conv") -> Explanation:
    """Predictions, guided backprop, CAM and guided Grad-CAM (their product) for a batch."""
    _check_input(x)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        probs = model(x).softmax(1).cpu().numpy()
    model.train(was_training)
    classes = np.array(_targets(model, x, targets) if targets is not None else probs.argmax(1))
    cam = compute_cams(model, x, classes, method=method, layer=layer)
    gb = guided_backprop(model, x, classes)
    return Explanation(deprocess(x)[:, 0].cpu().numpy(), probs, probs.argmax(1), classes, gb, cam, gb * cam,
                       method, layer)


def cam_overlay(face: np.ndarray, cam: np.ndarray, image_weight: float = 0.5) -> np.ndarray:
    """RGB uint8 overlay of a [0, 1] CAM on a uint8 gray face (the package's ``show_cam_on_image``)."""
    from pytorch_grad_cam.utils.image import show_cam_on_image  # lazy: grad-cam loads only when a map is drawn

    rgb = np.repeat((face.astype(np.float32) / 255.0)[..., None], 3, axis=2)
    return show_cam_on_image(rgb, np.clip(cam, 0, 1), use_rgb=True, image_weight=image_weight)


def gradient_image(grad: np.ndarray) -> np.ndarray:
    """uint8 picture of a gradient map (the package's ``deprocess_image``: mean 0.5, 0.1 per std)."""
    from pytorch_grad_cam.utils.image import deprocess_image  # lazy: grad-cam loads only when a map is drawn

    return deprocess_image(np.asarray(grad, dtype=np.float32))


# --- measured explanations -----------------------------------------------------------------------------------------

def _check_pair(cams: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cams, masks = np.asarray(cams, dtype=np.float64), np.asarray(masks).astype(bool)
    if cams.ndim == 2:
        cams, masks = cams[None], masks[None] if masks.ndim == 2 else masks
    if cams.shape != masks.shape:
        raise ValueError(f"CAMs {cams.shape} and masks {masks.shape} must have the same (N, H, W) shape; "
                         "crop or resize the masks exactly like the faces.")
    return cams, masks


def region_share(cams: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Share of each CAM's mass inside its mask (N,): 1 = all attention in the region, 0 = none; NaN for empty CAMs.

    A CAM spread evenly over the image scores the mask's area share (:func:`mask_area`), the chance level.
    """
    cams, masks = _check_pair(cams, masks)
    cams = np.clip(cams, 0, None)
    total = cams.sum(axis=(1, 2))
    inside = (cams * masks).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / np.where(total > 0, total, 1), np.nan)


def pointing_game(cams: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Whether each CAM's maximum falls inside its mask (N,) bool (ties: any maximal pixel inside counts; an empty,
    all-zero CAM points nowhere and misses)."""
    cams, masks = _check_pair(cams, masks)
    top = cams.max(axis=(1, 2), keepdims=True)
    peak = (cams >= top) & (top > 0)
    return (peak & masks).any(axis=(1, 2))


def mask_area(masks: np.ndarray) -> np.ndarray:
    """Fraction of the image each mask covers (N,): the region share of a uniform CAM."""
    masks = np.asarray(masks).astype(bool)
    return masks.reshape(len(masks), -1).mean(1)


def road_scores(model: nn.Module, x: torch.Tensor, cams: np.ndarray, targets,
                percentiles=(20, 40, 60, 80), seed: int = 0) -> np.ndarray:
    """The package's ROAD-combined faithfulness per image (N,): mean over ``percentiles`` of
    (confidence drop when the least relevant pixels are imputed away - drop when the most relevant are) / 2.

    Positive = removing what the CAM calls important hurts the target class's softmax more than removing the rest.
    """
    from pytorch_grad_cam.metrics.road import ROADCombined  # lazy: grad-cam loads only when a map is drawn
    # lazy: grad-cam loads only when a map is drawn
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget

    _check_input(x)
    was_training = model.training
    model.eval()
    classes = _targets(model, x, targets)
    try:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            scores = ROADCombined(percentiles=list(percentiles))(
                x, np.asarray(cams, dtype=np.float32), [ClassifierOutputSoftmaxTarget(c) for c in classes], model)
    finally:
        model.train(was_training)
    return np.asarray(scores, dtype=np.float64).reshape(-1)


def score_explanations(model: nn.Module, x: torch.Tensor, labels, masks: np.ndarray,
                       methods=(("gradcam", "last_conv"),), class_names=None, road_n: int | None = None,
                       road_percentiles=(20, 50, 80), batch_size: int = 64):
    """One row per image and (method, layer): the measured quality of the explanation of the TRUE class.

    ``masks`` (N, H, W) bool: the region the true class should use (e.g. the union of its prototype AUs' regions).
    Columns: emotion, method, layer, region_share (NaN for an all-zero CAM), pointing_hit (a miss for an all-zero
    CAM), empty_cam, chance (mask area), road. ROAD is slow (a sparse
    solve per image and percentile, ~0.2 s), so it is computed for about ``road_n`` images only, the first ones of
    each class in turn (all when ``None``, none when 0); the other rows hold NaN.
    """

    labels = np.asarray(labels.tolist() if hasattr(labels, "tolist") else labels, dtype=np.int64)
    masks = np.asarray(masks).astype(bool)
    if masks.shape != (len(x), *x.shape[-2:]):
        raise ValueError(f"masks must be (N, H, W) = {(len(x), *x.shape[-2:])} to match the input, got {masks.shape}.")
    use_road = np.ones(len(labels), bool)
    if road_n is not None:
        per_class = int(np.ceil(road_n / max(1, len(np.unique(labels))))) if road_n > 0 else 0
        rank = np.zeros(len(labels), np.int64)
        for lab in np.unique(labels):
            rank[labels == lab] = np.arange((labels == lab).sum())
        use_road = rank < per_class
    rows = []
    for method, layer in tqdm(list(methods), desc="explanations", leave=False):
        for start in range(0, len(x), batch_size):
            adapt_threads()
            sl = slice(start, start + batch_size)
            cams = compute_cams(model, x[sl], labels[sl], method=method, layer=layer)
            share, hit = region_share(cams, masks[sl]), pointing_game(cams, masks[sl])
            faith, pick = np.full(len(cams), np.nan), np.flatnonzero(use_road[sl])
            if len(pick):
                faith[pick] = road_scores(model, x[sl][pick], cams[pick], labels[sl][pick],
                                          percentiles=road_percentiles)
            for i, lab in enumerate(labels[sl]):
                rows.append({"emotion": class_names[lab] if class_names else int(lab), "method": method,
                             "layer": layer, "region_share": share[i], "pointing_hit": float(hit[i]),
                             "empty_cam": float(not cams[i].max() > 0),
                             "chance": float(mask_area(masks[sl][i:i + 1])[0]), "road": faith[i]})
    return pd.DataFrame(rows)


def summarize_scores(scores):
    """Mean region share (over non-empty CAMs), pointing-game hit rate, share of empty CAMs, chance and ROAD per
    (method, layer) and emotion, plus 'all'."""

    cols = ["region_share", "pointing_hit", "empty_cam", "chance", "road"]
    per = scores.groupby(["method", "layer", "emotion"], sort=False)[cols].mean().reset_index()
    overall = scores.groupby(["method", "layer"], sort=False)[cols].mean().reset_index().assign(emotion="all")
    return pd.concat([per, overall], ignore_index=True)


def hooks_attached(model: nn.Module) -> int:
    """How many forward/backward hooks are registered on the model's modules (0 after every facekit call)."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               + len(getattr(m, "_full_backward_hooks", {}) or {}) for m in model.modules())
