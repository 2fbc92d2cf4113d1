"""Faces from any image folder or photo: OpenCV Haar-cascade detection, crop, grayscale, resize.

The cascade file comes with ``opencv-python-headless<5`` (``cv2.data.haarcascades``; OpenCV 5 dropped both
``CascadeClassifier`` and the files). When no face is found the image is centre-cropped instead and the result says so;
unreadable or non-image files are skipped with a warning naming them; an empty folder is an error naming the folder.

The crops come as a :class:`facekit.data.FaceSet`: ``images`` uint8 (N, size, size) grey, ``names`` the file stems,
``emotion`` the true label of each face (from ``labels.csv`` in the folder, else the file name; -1: no label);
per face in ``extra``: ``detected`` (bool tensor: the Haar cascade found the face; ``False``: centre crop or an image
that was already a face crop), ``boxes`` (int64 (N, 4) x, y, w, h in the original image), ``notes`` (one
human-readable line per image, e.g. "no face found: centre crop") and ``sources`` (the file, ``None`` for an
in-memory photo); in ``meta``: ``skipped`` (files left out), ``remarks`` (folder-level notes: where labels came
from, files left out), ``label_source`` ("labels.csv", "file names" or "none") and ``crop`` ("facekit" or "starter").
"""
from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from facekit.data.faceset import FaceSet
from facekit.data.fer import EMOTIONS, emotion_from_name
from facekit.data.images import imread

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm")
_CASCADES: dict[str, object] = {}


def haar_cascade(name: str = "haarcascade_frontalface_default.xml"):
    """One of OpenCV's bundled Haar cascades (loaded once; default: frontal faces), with an error that says what to
    install when OpenCV has none (OpenCV 5 removed them)."""
    if name in _CASCADES:
        return _CASCADES[name]
    import cv2  # lazy: OpenCV's native libraries load only when an image is decoded or a face detected

    if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
        raise RuntimeError(
            f"This OpenCV ({cv2.__version__}) has no Haar cascades (OpenCV 5 removed them): "
            "pip install 'opencv-python-headless>=4.8,<5'."
        )
    path = Path(cv2.data.haarcascades) / name
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise RuntimeError(f"Cannot load the Haar cascade {path}: reinstall 'opencv-python-headless>=4.8,<5'.")
    _CASCADES[name] = cascade
    return cascade


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 grayscale (H, W) from gray, RGB or RGBA uint8/float input."""
    import cv2  # lazy: OpenCV's native libraries load only when an image is decoded or a face detected

    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = np.clip(image * (255.0 if image.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_RGBA2GRAY)
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    raise ValueError(f"Expected a gray (H, W) or RGB(A) (H, W, 3|4) image, got shape {image.shape}.")


def detect_face(gray: np.ndarray, margin: float = 0.15) -> tuple[int, int, int, int] | None:
    """The largest frontal face (x, y, w, h) in a uint8 gray image, grown by ``margin`` on each side, or ``None``."""
    import cv2  # lazy: OpenCV's native libraries load only when an image is decoded or a face detected

    min_side = max(24, min(gray.shape) // 8)
    faces = haar_cascade().detectMultiScale(cv2.equalizeHist(gray), scaleFactor=1.1, minNeighbors=5,
                                            minSize=(min_side, min_side))
    if len(faces) == 0:
        return None
    x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
    grow = int(round(margin * max(w, h)))
    side = max(w, h) + 2 * grow
    cx, cy = x + w / 2, y + h / 2
    x0 = int(round(cx - side / 2))
    y0 = int(round(cy - side / 2))
    side = min(side, gray.shape[0], gray.shape[1])
    x0 = min(max(x0, 0), gray.shape[1] - side)
    y0 = min(max(y0, 0), gray.shape[0] - side)
    return int(x0), int(y0), int(side), int(side)


def centre_box(gray: np.ndarray) -> tuple[int, int, int, int]:
    """The largest centred square of an image (x, y, w, h)."""
    h, w = gray.shape[:2]
    side = min(h, w)
    return (w - side) // 2, (h - side) // 2, side, side


def _crop_face(image: np.ndarray, size: int = 48, detect: bool | str = "auto") -> tuple[np.ndarray, bool, tuple, str]:
    """Cut one face out of a photo: returns (uint8 gray (size, size), detected, box, note).

    ``detect="auto"`` skips detection for images no larger than twice ``size`` (already a face crop, e.g. FER2013 or
    the synthetic test faces); ``True`` always runs the cascade; ``False`` never does. Without a face the largest
    centred square is used and the note says so.
    """
    import cv2  # lazy: OpenCV's native libraries load only when an image is decoded or a face detected

    gray = to_gray(image)
    run = detect is True or (detect == "auto" and max(gray.shape) > 2 * size)
    box, found, note = None, False, "already a face crop: used whole"
    if run:
        box = detect_face(gray)
        found = box is not None
        note = "face detected (Haar cascade)" if found else "no face found: centre crop"
    if box is None:
        box = centre_box(gray)
    x, y, w, h = box
    crop = gray[y:y + h, x:x + w]
    interp = cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interp), found, tuple(int(v) for v in box), note


#: The face crops :func:`load_face_folder` offers: ``"facekit"`` (EXIF applied, RGB -> grey, largest face on the
#: histogram-equalised image grown by 15 %, square, INTER_AREA) and ``"starter"`` (the Task 1 starter's check.py:
#: ``cv2.imread`` BGR, the first Haar detection as it is, ``cv2.resize`` to 48x48, then PIL's ``convert('L')`` on
#: the BGR array, which weighs blue as red; the whole image resized when no face is found).
CROPS: tuple[str, ...] = ("facekit", "starter")

#: Stems of files the starters write into their own test folders (check.py's figure): not faces, skipped.
_STARTER_OUTPUTS: tuple[str, ...] = ("guided_gradcam",)


def starter_crop(path: str | os.PathLike, size: int = 48) -> tuple[np.ndarray, bool, tuple, str]:
    """The Task 1 starter's ``check.py`` face crop of one file, step for step: (uint8 grey (size, size), detected,
    box, note). Reading, detection parameters, resize and grey conversion are the starter's, so the starter's model
    sees the pixels it sees in check.py."""
    import cv2  # lazy: OpenCV's native libraries load only when an image is decoded or a face detected
    from PIL import Image  # lazy: Pillow is needed only to decode photo files

    image = cv2.imread(str(path))  # BGR, no EXIF orientation (as check.py)
    if image is None:
        raise ValueError(f"OpenCV cannot read {path}.")
    found = haar_cascade().detectMultiScale(image, scaleFactor=1.1, minNeighbors=5, minSize=(1, 1),
                                            flags=cv2.CASCADE_SCALE_IMAGE)
    if len(found) == 0:
        box, face = (0, 0, image.shape[1], image.shape[0]), cv2.resize(image, (48, 48))
        note = "starter crop: no face found, whole image"
    else:
        x, y, w, h = (int(v) for v in found[0])
        box, face, note = (x, y, w, h), cv2.resize(image[y:y + h, x:x + w], (48, 48)), "starter crop: first Haar face"
    gray = np.asarray(Image.fromarray(face).convert("L"))
    if size != 48:
        gray = cv2.resize(gray, (size, size))
    return gray, len(found) > 0, box, note


def read_labels(folder: str | os.PathLike) -> dict[str, str]:
    """``labels.csv`` of a test folder (columns ``file,label[,why]``) as {file stem: label}; {} when absent."""
    path = Path(folder) / "labels.csv"
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8-sig") as fh:  # a BOM (Excel's "CSV UTF-8") is not part of 'file'
        rows = list(csv.DictReader(fh))
    if rows and not {"file", "label"} <= set(rows[0]):
        raise ValueError(f"{path} must have the columns 'file' and 'label' (found {', '.join(rows[0])}).")
    return {Path(r["file"]).stem: r["label"].strip() for r in rows}


def load_face_folder(folder: str | os.PathLike, size: int = 48, detect: bool | str = "auto",
                     crop: str = "facekit") -> FaceSet:
    """Every image in ``folder`` (sorted by name) as a face crop; see :func:`_crop_face` for ``detect`` and
    :data:`CROPS` for ``crop`` (``"starter"``: :func:`starter_crop`).

    True labels come from ``labels.csv`` when the folder has one, else from the file names (``surprised.jpg`` ->
    surprise, :func:`facekit.data.fer.emotion_from_name`); a face whose name is no emotion has label ``None``
    ("no label"). The starters' own outputs (``guided_gradcam.jpg``) are skipped with a remark. Non-image files and
    images OpenCV cannot decode are skipped with a warning naming them; a folder without any readable image raises
    ``ValueError`` naming the folder; a missing folder raises ``FileNotFoundError``.
    """
    import cv2  # lazy: OpenCV's native libraries load only when an image is decoded or a face detected

    if crop not in CROPS:
        raise ValueError(f"crop={crop!r}: choose one of {', '.join(CROPS)}.")
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"Image folder {folder} does not exist.")
    labels = read_labels(folder)
    images, names, found, boxes, notes, skipped, sources, remarks = [], [], [], [], [], [], [], []
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        if path.name == "labels.csv" or path.suffix.lower() in {".md", ".txt"}:
            continue
        if path.stem.lower().startswith(_STARTER_OUTPUTS):
            skipped.append(str(path))
            remarks.append(f"{path.name}: the starter's check.py output (a result figure, not a face): skipped")
            continue
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            warnings.warn(f"Skipping {path}: not an image file (expected one of {', '.join(IMAGE_SUFFIXES)}).",
                          stacklevel=2)
            skipped.append(str(path))
            continue
        image = imread(path, cv2.IMREAD_UNCHANGED)  # EXIF orientation applied: phone photos come upright
        if image is None or image.size == 0:
            warnings.warn(f"Skipping {path}: OpenCV cannot read it (corrupt or not really an image).", stacklevel=2)
            skipped.append(str(path))
            continue
        if image.ndim == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA if image.shape[2] == 4 else cv2.COLOR_BGR2RGB)
        if image.dtype == np.uint16:
            image = (image // 257).astype(np.uint8)
        if crop == "starter":
            face, ok, box, note = starter_crop(path, size=size)
        else:
            face, ok, box, note = _crop_face(image, size=size, detect=detect)
        images.append(face), names.append(path.stem), found.append(ok), boxes.append(box)
        notes.append(f"{path.name}: {note}"), sources.append(path)
        labels_for = labels.get(path.stem)
        if labels and labels_for is None:
            warnings.warn(f"{path.name} has no row in {folder / 'labels.csv'}: its true label is unknown.",
                          stacklevel=2)
    if not images:
        raise ValueError(f"No readable image in {folder}: put PNG/JPEG faces there (see data/README.md).")
    if labels:
        true, source = [labels.get(n) for n in names], "labels.csv"
    else:
        true = [emotion_from_name(n) for n in names]
        source = "file names" if any(t is not None for t in true) else "none"
        unlabelled = [n for n, t in zip(names, true) if t is None]
        remarks.append(f"no labels.csv: true labels read from the file names ({len(names) - len(unlabelled)} of "
                       f"{len(names)})" + (f"; no label for {', '.join(unlabelled)}" if unlabelled else ""))
    return _crops(images, names, true, found, boxes, notes, sources, source=str(folder),
                  meta={"skipped": skipped, "remarks": remarks, "label_source": source, "crop": crop})


def crop_photos(photos, size: int = 48) -> FaceSet:
    """Face crops of in-memory photos (e.g. :func:`facekit.assets.load_real_photos`), always running detection."""
    images, found, boxes, notes = [], [], [], []
    for photo in photos:
        face, ok, box, note = _crop_face(photo.image, size=size, detect=True)
        images.append(face), found.append(ok), boxes.append(box), notes.append(f"{photo.name}: {note}")
    return _crops(images, [p.name for p in photos], [p.label for p in photos], found, boxes, notes,
                  [None] * len(images), source="photos",
                  meta={"skipped": [], "remarks": [], "label_source": "photos", "crop": "facekit"})


def _emotion_codes(labels, where: str = "") -> torch.Tensor:
    """Emotion names (or ``None``: no label) -> int64 codes into :data:`facekit.data.fer.EMOTIONS` (-1: no label);
    synonyms and case are forgiven (``Happy``, ``surprised``), anything else is an error naming the face."""
    codes = []
    for i, label in enumerate(labels):
        if label is None or not str(label).strip():
            codes.append(-1)
            continue
        name = emotion_from_name(str(label))
        if name is None:
            raise ValueError(f"{where}face {i + 1}: label {label!r} is not a FER2013 emotion "
                             f"({', '.join(EMOTIONS)}).")
        codes.append(EMOTIONS.index(name))
    return torch.tensor(codes, dtype=torch.int64)


def _crops(images, names, labels, found, boxes, notes, sources, *, source: str, meta: dict) -> FaceSet:
    return FaceSet(torch.from_numpy(np.stack(images)), emotion=_emotion_codes(labels, f"{source}: "), names=names,
                   source=source, meta=meta,
                   extra={"detected": torch.tensor(found, dtype=torch.bool),
                          "boxes": torch.tensor(boxes, dtype=torch.int64).reshape(-1, 4),
                          "notes": list(notes), "sources": list(sources)})
