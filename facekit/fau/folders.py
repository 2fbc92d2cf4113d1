"""Task 2 on a plain folder of face images, as the course kit has them: ``train/``, ``test/``, ``test2/`` of
256x256 aligned face JPEGs, with or without a ``labels.csv``.

:func:`load_face_images` reads a folder for a given model (its input size and colour: a ResNet-50 gets RGB 256,
the workbook's default model grey 128); without ``labels.csv`` the intensities are NaN and ``labelled`` is False,
so every metric that needs ground truth says "no labels: not computed" (:data:`NO_LABELS`) instead of failing.
:func:`save_starter_visualize` writes the course's ``visualize/`` images the way Pytorch-FAU's ``run_demo.py`` does:
five per subject, ``Subject{k}_AU06.png`` .. ``Subject{k}_AU17.png`` (k from 0, in file order), each the face with
the AU's two heatmaps in JET at half opacity and the intensity written on it, saved at half size.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from facekit.data.faceset import FaceSet
from facekit.fau.data import load_au_csv
from facekit.fau.model import FAU_AUS
from facekit.fau.points import template_points
from facekit.kit_formats import checkpoint_label
from facekit import paths
from facekit.data.images import imread
from facekit.io import atomic_write_bytes

__all__ = ["NO_LABELS", "checkpoint_label", "face_set_label", "load_face_images", "load_for_model", "is_labelled", "save_starter_visualize",
           "model_input_format"]

#: What a metric that needs ground truth says for an unlabelled folder.
NO_LABELS = "no labels: not computed"

_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def model_input_format(model) -> tuple[int, bool]:
    """(input side, colour) the model expects: e.g. (256, True) for a ResNet-50, (128, False) for the default."""
    return int(model.config.input_size), int(model.config.in_channels) == 3


def is_labelled(data: FaceSet) -> bool:
    """Whether ``data`` has true intensities (a folder without labels.csv has NaN)."""
    return bool(np.isfinite(data.au.numpy()).all())


def face_set_label(data: FaceSet, folder=None) -> str:
    """How an answer names a face set: the folder the notebook was given (or the shipped one it fell back to),
    whether it is the shipped synthetic faces or the user's, and whether it has labels, e.g. "`data/fau/test/`
    (the shipped synthetic faces, labelled)" or "`course/task2/test` (your folder, no labels.csv)"."""
    where = Path(folder) if folder is not None else Path(data.meta.get("folder", data.source))
    labelled = "labelled" if is_labelled(data) else "no labels.csv"
    try:
        shipped = where.resolve().relative_to(paths.data_dir().resolve())
        return f"`data/{shipped.as_posix()}/` (the shipped synthetic faces, {labelled})"
    except ValueError:
        return f"`{where}` (your folder, {labelled})"


def load_face_images(folder: str | os.PathLike, size: int = 128, color: bool = False) -> FaceSet:
    """Every face image of ``folder`` (sorted by name) at ``size`` x ``size`` (RGB (N, 3, S, S) when ``color``,
    else grey (N, S, S)): with ``labels.csv`` its intensities and points (:func:`facekit.fau.data.load_au_csv`),
    without it NaN intensities and the template points (the faces are taken as aligned, as the course's are).
    The starters' outputs (``visualize/``, ``guided_gradcam.jpg``) are not faces and are left out."""
    import cv2  # lazy: OpenCV's native libraries load only when an image is decoded or a face detected


    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"Face folder {folder} does not exist; give the folder of face images (e.g. the "
                                "course's task 2 test/).")
    if (folder / "labels.csv").is_file():
        data = load_au_csv(folder / "labels.csv", size=size, color=color)
        data.source, data.meta["labelled"], data.meta["folder"] = folder.name, True, str(folder)
        return data
    files = [p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in _SUFFIXES
             and not p.name.startswith(".") and not p.stem.lower().startswith("guided_gradcam")]
    if not files:
        raise ValueError(f"No face image ({'/'.join(_SUFFIXES)}) in {folder}; put the aligned faces there.")
    images = []
    for path in files:
        img = imread(path, cv2.IMREAD_COLOR if color else cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise ValueError(f"Cannot read {path} as an image; delete or replace it.")
        interp = cv2.INTER_AREA if img.shape[0] > size else cv2.INTER_LINEAR
        img = cv2.resize(img, (size, size), interpolation=interp)
        images.append(img[..., ::-1].transpose(2, 0, 1) if color else img)  # BGR -> RGB, CHW
    n = len(files)
    data = FaceSet(torch.from_numpy(np.ascontiguousarray(np.stack(images))),
                   au=torch.from_numpy(np.full((n, len(FAU_AUS)), np.nan, np.float32)), aus=FAU_AUS,
                   points=torch.from_numpy(np.repeat(template_points(size)[None], n, axis=0)), source=folder.name,
                   names=[p.stem for p in files])
    data.meta.update(labelled=False, folder=str(folder), files=[p.name for p in files])
    return data


def load_for_model(folder: str | os.PathLike, model) -> FaceSet:
    """A face folder for ``model``: without ``labels.csv`` (the course's crops) at the model's input format (a
    ResNet-50 gets RGB 256 px); with ``labels.csv`` at 128 px grey, the frame its points are given in (the
    workbook's convention, :func:`facekit.fau.data.load_au_csv`): the trainer and the predictors resize to the
    model's input and move the points with it."""
    size, color = model_input_format(model) if not (Path(folder) / "labels.csv").is_file() else (128, False)
    return load_face_images(folder, size=size, color=color)


def save_starter_visualize(res, out_folder: str | os.PathLike, threshold: float = 0.1 / 255.0) -> list[Path]:
    """The course's ``visualize/`` images from :class:`facekit.fau.demo.FAUResults` (facekit heatmap units,
    i.e. Pytorch-FAU's / 255): ``Subject{k}_AU{06,10,12,14,17}.png``, as ``run_demo.py`` writes them (map values
    under its 0.1 threshold zeroed, clipped at 5, scaled to 0-255, JET, averaged with the face, intensity written,
    halved in size). Written atomically; returns the paths."""
    import cv2  # lazy: OpenCV's native libraries load only when an image is decoded or a face detected


    out_folder = Path(out_folder)
    paths = []
    for k in range(len(res)):
        img = np.asarray(res.images[k])
        rgb = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img.transpose(1, 2, 0)
        side = rgb.shape[0]
        for j, au in enumerate(FAU_AUS):
            overlay = rgb.astype(np.float64) * 0.5
            for m in (2 * j, 2 * j + 1):
                hm = np.array(res.heatmaps[k, m], dtype=np.float64)
                hm[hm < threshold] = 0.0
                hm = (np.minimum(hm, 5.0) * 255.0 / 5.0).astype(np.uint8)
                jet = cv2.applyColorMap(cv2.resize(hm, (side, side)), cv2.COLORMAP_JET)[..., ::-1]  # RGB
                overlay += jet * 0.5
            overlay = np.ascontiguousarray(np.clip(overlay, 0, 255).astype(np.uint8))
            value = round(float(res.predicted[k, j]), 2)
            cv2.putText(overlay, f"AU{au}: {value}", (5, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.85 * side / 256,
                        (255, 255, 255), 2)
            half = cv2.resize(overlay, (side // 2, side // 2), interpolation=cv2.INTER_AREA)
            ok, png = cv2.imencode(".png", np.ascontiguousarray(half[..., ::-1]))
            path = out_folder / f"Subject{k}_AU{au:02d}.png"
            atomic_write_bytes(path, png.tobytes())
            paths.append(path)
    return paths
