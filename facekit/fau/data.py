"""AU intensity data for the heatmap model: from the face generator, from real AU labels, and the shipped test faces.

Every source becomes a :class:`facekit.data.FaceSet` with ``au``: face images, the intensities of AU6/10/12/14/17
(0-5; the AUs of the columns in ``aus``) and, in ``points``, per AU the two points (left, right; image pixels, x then
y) where its heatmap peaks. For generated faces the points come from the
generator's landmarks (:data:`facekit.fau.points.AU_POINTS`); for real faces without landmarks, from the mean generated face
(:func:`template_points`), which is where :mod:`facekit.fau.register` puts the eyes of a registered photo.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from facekit.data.faceset import FaceSet
from facekit.fau.model import FAU_AUS
from facekit.fau.points import au_points, template_points
from facekit.data.images import imread
from facekit.data.loaders import DataError
from facekit.data.loaders import au_column
from facekit.data.loaders import duplicate_columns
from facekit.data.loaders import is_number
from facekit.fau.register import register_face
from facekit.io import atomic_write_bytes
from facekit.io import atomic_write_text
from facekit import paths
from facekit.synth import AUS
from facekit.synth import make_au_dataset
from facekit.synth import render_faces
from facekit.synth.facs import sample_independent_aus

_LABEL_COLUMNS = tuple(f"AU{a}" for a in FAU_AUS)


def to_input(images, in_channels: int = 1, size: int | None = None) -> torch.Tensor:
    """uint8 images (N, H, W) or (N, 3, H, W) -> float (N, in_channels, S, S) in [0, 1] (grey <-> RGB as needed)."""
    x = torch.as_tensor(np.asarray(images)).float() / 255.0
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.shape[1] == 3 and in_channels == 1:
        x = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    elif x.shape[1] == 1 and in_channels == 3:
        x = x.expand(-1, 3, -1, -1)
    if size is not None and x.shape[-1] != size:
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x.contiguous()


def au_columns(au, aus=FAU_AUS) -> np.ndarray:
    """(N, 17) generator AU array (facekit.synth.AUS order) -> (N, A) columns of ``aus`` (default AU6/10/12/14/17)."""
    cols = [list(AUS).index(a) for a in aus]
    return np.asarray(au, dtype=np.float32)[:, cols]


def _with_au_points(faces: FaceSet, source: str, aus=FAU_AUS) -> FaceSet:
    """Rendered faces (all of :data:`facekit.synth.AUS`) -> the same faces with the ``au`` columns of ``aus`` and
    their heatmap ``points`` (the rest of the ground truth comes along)."""
    return FaceSet(faces.images, emotion=faces.emotion, clean_emotion=faces.clean_emotion,
                   au=torch.from_numpy(au_columns(faces.au, aus)), aus=aus,
                   points=torch.from_numpy(au_points(faces.landmarks, aus=aus)), landmarks=faces.landmarks,
                   source=source, meta=dict(faces.meta))


def make_au_data(n: int, seed: int, domain: str = "lab", size: int = 128, color: bool = False,
                 aus=FAU_AUS, as_lab=()) -> FaceSet:
    """Render ``n`` faces with widely varying AU6/10/12/14/17 (facekit.synth.make_au_dataset), held in memory.

    With more ``aus`` than the five (e.g. :data:`facekit.fau.model.ALL_AUS`), every second face also has its other
    AUs redrawn independently of the emotion prototype (0 with chance 0.65, else 0.3-5), so each AU is seen both
    inside and outside its usual company and a model cannot read one AU off the others.
    ``as_lab`` (wild faces only; traits of :data:`facekit.synth.WILD_FACTORS`) draws those traits from lab's ranges:
    the same faces and AUs, one trait changed.
    """

    aus = tuple(int(a) for a in aus)
    if set(aus) <= set(FAU_AUS):
        batch = make_au_dataset(n, seed=seed, domain=domain, size=size, color=color, as_lab=as_lab)
        return _with_au_points(batch, source=domain, aus=aus)

    base = make_au_dataset(n, seed=seed, domain=domain, size=size, color=color, as_lab=as_lab)
    g = torch.Generator().manual_seed(9173 * int(seed) + (0 if domain == "lab" else 1))
    au = base.au.clone()
    other = [i for i, a in enumerate(AUS) if a not in FAU_AUS]
    redraw = torch.rand(n, generator=g) < 0.5
    fresh = sample_independent_aus(n, g, tuple(AUS[i] for i in other), p_active=0.35)
    au[:, other] = torch.where(redraw[:, None], fresh, au[:, other])
    batch = render_faces(n, seed=seed, domain=domain, size=size, color=color, emotion=base.clean_emotion,
                         au=au.clamp(0, 5), as_lab=as_lab)
    return _with_au_points(batch, source=domain, aus=aus)


# --- real AU labels (BP4D / DISFA style) ---------------------------------------------------------------------------

def load_au_csv(csv_path: str | os.PathLike, image_root: str | os.PathLike | None = None, size: int = 128,
                color: bool = False, register: bool = False) -> FaceSet:
    """Real AU data: a CSV with a ``path`` column (image file, relative to ``image_root`` or the CSV's folder) and
    intensity columns ``AU6, AU10, AU12, AU14, AU17`` (0-5). Optional point columns ``AU6_l_x, AU6_l_y, AU6_r_x,
    AU6_r_y, ...`` in the pixels of the resized ``size`` x ``size`` image; without them the faces are assumed
    registered (``register=True`` registers them with the Haar cascades first) and the template points are used.
    """
    import cv2  # lazy: OpenCV's native libraries load only when an image is decoded or a face detected


    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"AU label file {csv_path} does not exist.")
    df = _read_au_table(csv_path)
    root = Path(image_root) if image_root else csv_path.parent
    images, pts = [], []
    point_cols = [f"AU{a}_{s}_{c}" for a in FAU_AUS for s in "lr" for c in "xy"]
    has_points = all(c in df.columns for c in point_cols)
    for row_no, row in enumerate(df.itertuples(index=False), start=2):
        file = root / str(row.path)
        img = imread(file, cv2.IMREAD_COLOR if color else cv2.IMREAD_GRAYSCALE)  # EXIF orientation applied
        if img is None:
            raise FileNotFoundError(f"{csv_path} line {row_no}: cannot read image {file}.")
        if register:

            img = register_face(img, size=size).image
        else:
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
        images.append(img[..., ::-1].transpose(2, 0, 1) if color else img)
        if has_points:
            pts.append(np.asarray([getattr(row, c) for c in point_cols], dtype=np.float32).reshape(5, 2, 2))
    inten = df[list(_LABEL_COLUMNS)].to_numpy(np.float32)
    points = np.stack(pts) if has_points else np.repeat(template_points(size)[None], len(df), axis=0)
    names = [Path(p).stem for p in df["path"].astype(str)]
    return FaceSet(torch.from_numpy(np.stack(images)), au=torch.from_numpy(inten), aus=FAU_AUS,
                   points=torch.from_numpy(np.ascontiguousarray(points)), source=csv_path.stem, names=names)


def _read_au_table(csv_path: Path) -> pd.DataFrame:
    """The AU CSV with canonical column names (``AU06`` -> ``AU6``) and every intensity and point checked: a
    :class:`facekit.data.loaders.DataError` names the row, the column and the fix (no row is dropped silently:
    an unknown intensity would train the model towards 0)."""

    try:
        raw = pd.read_csv(csv_path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise DataError(f"{csv_path} is empty: expected a header 'path,{','.join(_LABEL_COLUMNS)}' and one row per "
                        "face.") from None
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"Cannot read {csv_path} as a CSV ({type(exc).__name__}: {exc}).") from exc
    canonical = [au_column(c) or str(c).strip() for c in raw.columns]
    clash = duplicate_columns(raw.columns, canonical)
    if clash:
        raise DataError(f"{csv_path}: {clash}")
    raw.columns = canonical
    need = ["path", *_LABEL_COLUMNS]
    absent = [c for c in need if c not in raw.columns]
    if absent:
        raise DataError(f"{csv_path}: missing columns {absent}; expected 'path' and {list(_LABEL_COLUMNS)} "
                        f"(AU06 or AU6 both work; found {[str(c)[:40] for c in raw.columns]}).")
    if raw.empty:
        raise DataError(f"{csv_path} has a header but no rows: add one row per face.")
    point_cols = [f"AU{a}_{s}_{c}" for a in FAU_AUS for s in "lr" for c in "xy"]
    df = pd.DataFrame({"path": raw["path"].str.strip()})
    for col in [*_LABEL_COLUMNS, *(c for c in point_cols if c in raw.columns)]:
        values = pd.to_numeric(raw[col].str.strip(), errors="coerce").to_numpy(np.float64)
        for i in np.flatnonzero(~np.isfinite(values) | ((values < 0) | (values > 5) if col in _LABEL_COLUMNS
                                                       else np.zeros(len(values), bool))):
            text = raw[col].iloc[i].strip()
            where = f"{csv_path} row {i + 1} (line {i + 2})"
            if not text or text.lower() in {"nan", "na", "n/a", "none", "null"}:
                raise DataError(f"{where}: {col} is empty ({text!r}); every face needs all five intensities "
                                "(0-5) and, when point columns are given, all points. Fill it in or drop the row.")
            if not np.isfinite(values[i]) and not is_number(text):
                raise DataError(f"{where}: {col} = {text!r} is not a number; AU intensities are numbers 0-5.")
            if not np.isfinite(values[i]):
                raise DataError(f"{where}: {col} = {text!r} is not finite.")
            raise DataError(f"{where}: {col} = {text} is outside the FACS 0-5 intensity scale.")
        df[col] = values
    return df


# --- the shipped test faces (data/fau/test, data/fau/test2) ---------------------------------------------------------

_TEST_SETS = {"test": ("lab", 2024), "test2": ("wild", 2025)}
"""Folder name -> (generator domain, seed) of the shipped test faces."""


def write_test_faces(folder: str | os.PathLike, domain: str, seed: int, n: int = 5, size: int = 128) -> Path:
    """Render ``n`` faces and write ``subject_<i>.png`` + ``labels.csv`` (path, AU intensities, points) to ``folder``.

    This regenerates ``data/fau/test`` (``lab``) and ``data/fau/test2`` (``wild``): see :data:`_TEST_SETS`.
    """
    import cv2  # lazy: OpenCV's native libraries load only when an image is decoded or a face detected


    data = make_au_data(n, seed=seed, domain=domain, size=size)
    folder = Path(folder)
    rows = []
    for i in range(n):
        name = f"subject_{i + 1}"
        ok, png = cv2.imencode(".png", data.images[i].numpy())
        atomic_write_bytes(folder / f"{name}.png", png.tobytes())
        row = {"path": f"{name}.png", **{c: round(float(v), 3) for c, v in zip(_LABEL_COLUMNS, data.au[i].numpy())}}
        for j, a in enumerate(FAU_AUS):
            for k, s in enumerate("lr"):
                row[f"AU{a}_{s}_x"] = round(float(data.points[i, j, k, 0].numpy()), 2)
                row[f"AU{a}_{s}_y"] = round(float(data.points[i, j, k, 1].numpy()), 2)
        rows.append(row)
    atomic_write_text(folder / "labels.csv", pd.DataFrame(rows).to_csv(index=False))
    return folder


def load_test_faces(name: str = "test", root: str | os.PathLike | None = None, size: int = 128) -> FaceSet:
    """The shipped test faces ``data/fau/<name>/`` (labels.csv + PNGs) as a FaceSet with ``au`` and ``points``."""
    folder = Path(root) / name if root else paths.data_dir("fau", name)
    data = load_au_csv(folder / "labels.csv", size=size)
    data.source = name
    return data
