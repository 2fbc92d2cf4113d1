"""Saving and loading the emotion model: a checkpoint carries its architecture and configuration, so loading
rebuilds exactly the model that was saved and a wrong file fails with a message that says what does not match.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from facekit.data.fer import EMOTIONS
from facekit.emotion.xception import MiniXception
from facekit.io import CheckpointError, non_finite, save_checkpoint
from facekit.kit_formats import EMOTION_ARCH, EMOTION_INPUT, checkpoint_label, read_any
from facekit import paths

#: Architecture tag stored in every emotion checkpoint.
ARCH = EMOTION_ARCH
#: The file name notebooks and scripts use for the trained Task 1 model.
CHECKPOINT_NAME = "emotion_minixception.pt"
#: How the model expects its input (stored for people reading the checkpoint).
_INPUT_CONVENTION = EMOTION_INPUT


def model_payload(model: MiniXception, **extra) -> dict:
    """The dict a MiniXception checkpoint holds: ``arch``, ``config``, ``classes``, ``input``, ``state_dict``
    (contiguous NCHW tensors on the CPU) plus ``extra`` entries (history, optimizer, ...)."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return {"arch": ARCH, "config": dict(model.config), "classes": list(EMOTIONS), "input": _INPUT_CONVENTION,
            "state_dict": state, **extra}


def save_emotion_model(model: MiniXception, path: str | os.PathLike, **extra) -> Path:
    """Save ``model`` (and ``extra`` entries) atomically to ``path`` in the format :func:`load_emotion_model` reads."""
    return save_checkpoint(model_payload(model, **extra), path)


def load_emotion_model(path_or_name: str | os.PathLike = CHECKPOINT_NAME, ckpt_dir: str | os.PathLike | None = None,
                       map_location: str | torch.device = "cpu") -> MiniXception:
    """A MiniXception in eval mode from a checkpoint file, or from a checkpoint *name* looked up with
    :func:`facekit.find_checkpoint` (this run's ``ckpt_dir`` first, then ``data/checkpoints/``).

    The file may be a facekit checkpoint or the Task 1 starter's ``.t7`` (``{'net': state_dict}``, a bare state
    dict, ``module.`` prefixes): its names are mapped and its [0, 1] input folded into the stem, so
    :func:`facekit.emotion.preprocess` gives the starter's probabilities (:mod:`facekit.kit_formats`). The model
    carries ``checkpoint_path`` and ``checkpoint_format`` (``"facekit"`` or ``"task1-starter"``).

    Raises ``ValueError`` naming the missing / unexpected / mis-shaped weights when the file does not hold a
    MiniXception of the stored configuration.
    """
    path = Path(path_or_name)
    if not path.is_file():
        if path.parent != Path(".") or path.is_absolute():
            raise FileNotFoundError(f"Emotion checkpoint {path} does not exist: train it with the notebook "
                                    "02_emotion_training or `facekit train-emotions`.")
        path = paths.find_checkpoint(str(path_or_name), ckpt_dir)
    ckpt, info = read_any(path)  # a facekit file, or the Task 1 starter's .t7 renamed (weights_only=True either way)
    if info["task"] == "fau" and info["format"] != "facekit":
        raise ValueError(f"{path} holds Pytorch-FAU's Task 2 heatmap model, not a {ARCH}: load it with "
                         f"facekit.fau.load_fau_model, and pass the emotion checkpoint ({CHECKPOINT_NAME}) here.")
    non_finite_keys = non_finite({"state_dict": ckpt["state_dict"]})
    if non_finite_keys:
        raise CheckpointError(f"Checkpoint {path} holds non-finite weights (NaN or inf in "
                              f"{', '.join(non_finite_keys[:6])}): the training that wrote it diverged; retrain it.")
    arch = ckpt.get("arch")
    if arch is None and ckpt.get("kind") is not None:
        raise ValueError(f"{path} holds a {ckpt['kind']!r} model (Task 2 FAU heatmaps), not a {ARCH}: load it with "
                         f"facekit.fau.load_fau_model, and pass the emotion checkpoint ({CHECKPOINT_NAME}) here.")
    if arch is not None and arch != ARCH:
        raise ValueError(f"{path} holds a {arch!r} model, not a {ARCH}: pick the emotion checkpoint "
                         f"({CHECKPOINT_NAME}).")
    config = ckpt.get("config") or {}
    try:
        model = MiniXception(**config)
    except TypeError as exc:
        raise ValueError(f"{path}: its stored MiniXception config {config} is not understood ({exc}).") from exc
    state = ckpt["state_dict"]
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]          # in layer order, so the first ones are the stem
    unexpected = [k for k in state if k not in expected]
    mis_shaped = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
                  for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or mis_shaped:
        def show(items):
            return ", ".join(items[:8]) + (f" (+{len(items) - 8} more)" if len(items) > 8 else "") or "none"
        raise ValueError(
            f"{path} does not match MiniXception(**{config}).\n  missing keys: {show(missing)}\n"
            f"  unexpected keys: {show(unexpected)}\n  shape mismatches: {show(mis_shaped)}\n"
            "Is it a checkpoint of another model? Emotion checkpoints come from 02_emotion_training / "
            "`facekit train-emotions`; Keras weights need the converter first.")
    model.load_state_dict(state)
    model.checkpoint_path = path
    model.checkpoint_format = info["format"]
    return model.eval()
