"""The reference side of the checks: the test faces the checks feed the models, the shipped checkpoints, and
:func:`compute_fingerprints` (the statistics of every layer's output with this checkout's model code; the edition
tooling stores them in ``facekit/checks_fingerprints.json`` from the instructor's checkout)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from facekit.checks.core import images_sha, layer_trace, sha256
from facekit.data.faces import load_face_folder
from facekit.emotion import xception
from facekit.emotion.checkpoint import CHECKPOINT_NAME
from facekit.fau import model as fm
from facekit.fau.data import load_test_faces, to_input
from facekit.fau.heatmaps import read_intensities
from facekit.io import load_checkpoint
from facekit import paths


def emotion_images() -> np.ndarray:
    return np.ascontiguousarray(load_face_folder(paths.data_dir("test"), size=48, detect=False).images.numpy())


def emotion_inputs() -> torch.Tensor:
    return xception.preprocess(torch.as_tensor(emotion_images()))


def fau_images(config) -> np.ndarray:
    return np.ascontiguousarray(load_test_faces("test", size=config.input_size).images.numpy())


def fau_inputs(config) -> torch.Tensor:
    return to_input(fau_images(config), config.in_channels, config.input_size)


def emotion_checkpoint() -> Path:
    return paths.shipped_checkpoint_dir() / CHECKPOINT_NAME


def fau_checkpoint() -> Path:
    return paths.shipped_checkpoint_dir() / "fau_resnet.pt"


def compute_fingerprints() -> dict:
    """The reference outputs of the shipped checkpoints with this checkout's model code (the instructor's)."""
    path = emotion_checkpoint()
    ckpt = load_checkpoint(path)
    model = xception.MiniXception(**ckpt.get("config", {}))
    model.load_state_dict(ckpt["state_dict"], strict=True)
    trace, logits = layer_trace(model, emotion_inputs())
    table = xception.layer_table(xception.MiniXception(), 48)
    rows = [(n, t, s) for n, t, s in zip(table["name"], table["type"], table["output_shape"]) if n != "total"]
    emotion = {"checkpoint": path.name, "sha256": sha256(path), "inputs": "data/test, 48x48, no face detection",
               "inputs_sha256": images_sha(emotion_images()),
               "shapes_48": [[n, list(s)] for n, _, s in rows], "types_48": [[n, t] for n, t, _ in rows],
               "trace": trace, "logits": logits.double().tolist(), "predicted": logits.argmax(1).tolist()}
    path = fau_checkpoint()
    fau_model = fm.load_fau_model(path)
    trace, heatmaps = layer_trace(fau_model, fau_inputs(fau_model.config))
    fau = {"checkpoint": path.name, "sha256": sha256(path), "inputs": "data/fau/test at the checkpoint's input size",
           "inputs_sha256": images_sha(fau_images(fau_model.config)),
           "trace": trace, "intensities": read_intensities(heatmaps).double().tolist()}
    return {"emotion": emotion, "fau": fau}
