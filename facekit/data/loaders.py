"""Real data through the same door as the synthetic faces: FER2013 (CSV or folders) and AU-labelled images.
:func:`real_fer2013_path` says whether ``data/fer2013/`` holds real FER2013; the Task 1 loader that falls back to the
synthetic twin is :func:`facekit.emotion.data.load_emotion_data` (``data`` never imports ``synth``).

Every malformed input raises :class:`DataError` (a ``ValueError``) naming the file, the row or image, and the fix.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch

from facekit.data.fer import EMOTIONS, SPLITS, FERData

#: Image file suffixes the folder loaders read.
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".pgm")

#: Kaggle's folder names for the FER2013 classes (``fearful``/``surprised`` variants seen in re-uploads too).
_FOLDER_NAMES: dict[str, int] = {
    **{name: i for i, name in enumerate(EMOTIONS)},
    "anger": 0, "disgusted": 1, "fearful": 2, "happiness": 3, "sadness": 4, "surprised": 5,
}
#: Kaggle's split folders: ``train`` -> Training, ``test`` -> PrivateTest (the folder release merges the two tests
#: into one 7,178-face test set); ``val``/``validation`` -> PublicTest.
_SPLIT_FOLDERS: dict[str, str] = {"train": "Training", "training": "Training", "test": "PrivateTest",
                                  "val": "PublicTest", "validation": "PublicTest", "publictest": "PublicTest",
                                  "privatetest": "PrivateTest"}

_FER_COLUMNS = ("emotion", "pixels")


class DataError(ValueError):
    """A data file that cannot be read as asked; the message names the file, the place, and the fix."""


def _fix_hint() -> str:
    return ("Download fer2013.csv from https://www.kaggle.com/c/challenges-in-representation-learning-facial-"
            "expression-recognition-challenge/data into data/fer2013/, or remove the file to use synthetic faces.")


# --------------------------------------------------------------------------------------------------- FER2013

def load_fer2013(path: str | os.PathLike) -> FERData:
    """Read FER2013 into memory: Kaggle's ``fer2013.csv`` (``emotion,pixels,Usage``) or the Kaggle folder layout
    (``train/<class>/*.png|jpg``, ``test/<class>/...``, class folders matched by name, e.g. ``angry``,
    ``disgust``...). A folder holding ``fer2013.csv`` is read as that CSV."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"FER2013 not found at {path}. {_fix_hint()}")
    if path.is_dir():
        csvs = sorted(path.glob("*.csv"))
        if (path / "fer2013.csv").is_file():
            return _load_fer_csv(path / "fer2013.csv")
        if any(p.is_dir() and p.name.lower() in _SPLIT_FOLDERS for p in path.iterdir()):
            return _load_fer_folders(path)
        if len(csvs) == 1:
            return _load_fer_csv(csvs[0])
        raise DataError(f"{path} holds neither fer2013.csv nor split folders (train/, test/) with one sub-folder "
                        f"per emotion ({', '.join(EMOTIONS)}). {_fix_hint()}")
    return _load_fer_csv(path)


def _load_fer_csv(path: Path) -> FERData:
    import pandas as pd

    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty: expected a header 'emotion,pixels,Usage' and one row per face.") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"Cannot read {path} as a FER2013 CSV ({type(exc).__name__}: {exc}). {_fix_hint()}") from exc
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in _FER_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(table.columns) or 'none'}. "
                        "A FER2013 CSV has the header 'emotion,pixels,Usage'.")
    if table.empty:
        raise DataError(f"{path} has a header but no faces. {_fix_hint()}")
    where = lambda i: f"{path} row {i + 1} (line {i + 2})"  # noqa: E731
    names = ", ".join(f"{i}={e}" for i, e in enumerate(EMOTIONS))
    emotion = pd.to_numeric(table["emotion"].str.strip(), errors="coerce")
    bad = emotion.isna() | (emotion != emotion.round())
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise DataError(f"{where(i)}: emotion {table['emotion'].iloc[i]!r} is not an integer; use 0-6 ({names}).")
    out_of_range = (emotion < 0) | (emotion >= len(EMOTIONS))
    if out_of_range.any():
        i = int(out_of_range.to_numpy().nonzero()[0][0])
        raise DataError(f"{where(i)}: emotion {int(emotion.iloc[i])} is outside 0-6 ({names}); fix or drop the row.")
    if "Usage" in table.columns:
        usage = table["Usage"].str.strip()
        unknown = ~usage.isin(SPLITS)
        if unknown.any():
            i = int(unknown.to_numpy().nonzero()[0][0])
            raise DataError(f"{where(i)}: unknown Usage {usage.iloc[i]!r}; expected one of {', '.join(SPLITS)}.")
        usage_codes = usage.map({s: k for k, s in enumerate(SPLITS)}).to_numpy()
    else:
        usage_codes = np.zeros(len(table), dtype=np.int64)
    pixels = _parse_pixels(table["pixels"], where)
    return FERData(images=torch.from_numpy(pixels.reshape(-1, 48, 48)),
                   labels=torch.from_numpy(emotion.to_numpy().astype(np.int64)),
                   usage=torch.from_numpy(usage_codes.astype(np.int64)), source=f"FER2013 CSV {path}",
                   meta={"path": str(path), "format": "csv"})


def _parse_pixels(column, where) -> np.ndarray:
    """(N, 2304) uint8 from the ``pixels`` strings: pandas' C parser in one go, a row-by-row diagnosis on failure."""
    import pandas as pd

    n_pix = 48 * 48
    values = None
    try:
        values = pd.read_csv(io.StringIO("\n".join(column.str.strip())), sep=" ", header=None,
                             dtype=np.float64, skip_blank_lines=False, engine="c").to_numpy()
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        values = None
    if values is not None and values.shape == (len(column), n_pix) and np.isfinite(values).all():
        if values.min() >= 0 and values.max() <= 255:
            return values.astype(np.uint8)
    for i, text in enumerate(column):  # slow path: find the first bad row and say what is wrong with it
        tokens = text.split()
        bad = next((t for t in tokens if not _is_number(t) or not np.isfinite(float(t))), None)
        if bad is not None:
            raise DataError(f"{where(i)}: pixel value {bad!r} is not a number; pixels must be {n_pix} "
                            "space-separated integers 0-255.")
        if len(tokens) != n_pix:
            raise DataError(f"{where(i)}: expected {n_pix} pixel values (48x48), found {len(tokens)}.")
        row = np.array(tokens, dtype=np.float64)
        if row.min() < 0 or row.max() > 255:
            raise DataError(f"{where(i)}: pixel values must lie in 0-255, found {row.min():g}..{row.max():g}.")
    raise DataError(f"{column.name}: pixels could not be parsed; each row needs {n_pix} integers 0-255.")


def _is_number(token: str) -> bool:
    try:
        float(token)
        return True
    except ValueError:
        return False


def read_image(path: Path, size: int | None = None, gray: bool = True) -> np.ndarray:
    """Read one image as uint8 (H, W) gray or (H, W, 3) RGB, resized to ``size`` x ``size`` if given; a clear
    :class:`DataError` for an empty or unreadable file."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise DataError(f"Image {path} does not exist; check the path (relative paths are read from the image root).")
    if path.stat().st_size == 0:
        raise DataError(f"Image {path} is empty (0 bytes); re-download or delete it.")
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR)
    if img is None:
        raise DataError(f"Image {path} is unreadable (not a PNG/JPEG/BMP image or truncated); re-download or delete it.")
    if not gray:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if size is not None and img.shape[:2] != (size, size):
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    return img


def _load_fer_folders(root: Path) -> FERData:
    images, labels, usage, files = [], [], [], []
    for split_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        split = _SPLIT_FOLDERS.get(split_dir.name.lower())
        if split is None:
            continue
        class_dirs = [p for p in sorted(split_dir.iterdir()) if p.is_dir()]
        if not class_dirs:
            raise DataError(f"{split_dir} has no class folders; expected one per emotion ({', '.join(EMOTIONS)}).")
        for class_dir in class_dirs:
            label = _FOLDER_NAMES.get(class_dir.name.lower())
            if label is None:
                raise DataError(f"{class_dir}: folder name {class_dir.name!r} is not an emotion; rename it to one of "
                                f"{', '.join(EMOTIONS)}.")
            paths = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not paths:
                raise DataError(f"{class_dir} is an empty class folder (no {'/'.join(IMAGE_SUFFIXES)} images); "
                                "add its images or delete the folder.")
            for p in paths:
                images.append(read_image(p, size=48))
                labels.append(label)
                usage.append(SPLITS.index(split))
                files.append(str(p.relative_to(root)))
    if not images:
        raise DataError(f"{root} holds no train/ or test/ folder with images. {_fix_hint()}")
    return FERData(images=torch.from_numpy(np.stack(images)), labels=torch.tensor(labels, dtype=torch.long),
                   usage=torch.tensor(usage, dtype=torch.long), source=f"FER2013 folders {root}",
                   meta={"path": str(root), "format": "folders", "files": files})


# --------------------------------------------------------------------------------------------------- AU labels

def load_au_labels(csv_path: str | os.PathLike, image_root: str | os.PathLike | None = None, size: int = 128,
                   gray: bool = True):
    """Real AU-labelled images: a CSV with a ``path`` column and one column per AU (``AU06``, ``AU6`` or ``6``),
    intensities on the FACS 0-5 scale (empty = unknown, read as NaN).

    Returns ``(images, au_table)``: uint8 (N, size, size) (or (N, size, size, 3) when ``gray=False``) and a pandas
    DataFrame with ``path`` and one float column per AU, named ``AU<k>`` after :data:`facekit.synth.AUS` order
    where present. Relative paths are read from ``image_root`` (default: the CSV's folder).
    """
    import pandas as pd

    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"AU label file {csv_path} does not exist; pass the CSV of 'path,AU01,AU02,...'.")
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except Exception as exc:  # pandas raises several types for a broken CSV
        raise DataError(f"Cannot read {csv_path} as a CSV ({type(exc).__name__}: {exc}).") from exc
    table.columns = [str(c).strip() for c in table.columns]
    if "path" not in table.columns:
        raise DataError(f"{csv_path}: missing column 'path'; found {', '.join(table.columns)}. The AU CSV needs a "
                        "'path' column and one column per AU, e.g. 'path,AU06,AU12'.")
    au_cols = {}
    for c in table.columns:
        name = c.upper().removeprefix("AU").lstrip("0") or "0"
        if c != "path" and name.isdigit():
            au_cols[c] = f"AU{int(name)}"
    if not au_cols:
        raise DataError(f"{csv_path}: no AU columns; name them AU01, AU6 or 12 (one per Action Unit).")
    if table.empty:
        raise DataError(f"{csv_path} has a header but no rows.")
    root = Path(image_root) if image_root is not None else csv_path.parent
    out = pd.DataFrame({"path": table["path"]})
    for col, name in au_cols.items():
        values = np.full(len(table), np.nan)
        for i, v in enumerate(table[col]):
            v = v.strip()
            if not v:
                continue
            try:
                values[i] = float(v)
            except ValueError:
                raise DataError(f"{csv_path} row {i + 1}: {col} = {v!r} is not a number; AU intensities are 0-5 "
                                "(empty for unknown).") from None
            if not 0 <= values[i] <= 5:
                raise DataError(f"{csv_path} row {i + 1}: {col} = {v} is outside the FACS 0-5 intensity scale.")
        out[name] = values
    images = []
    for i, rel in enumerate(table["path"]):
        if not rel.strip():
            raise DataError(f"{csv_path} row {i + 1}: empty path; give the image file of every row.")
        p = Path(rel.strip())
        p = p if p.is_absolute() else root / p
        try:
            images.append(read_image(p, size=size, gray=gray))
        except DataError as exc:
            raise DataError(f"{csv_path} row {i + 1}: {exc}") from None
    return torch.from_numpy(np.stack(images)), out


# --------------------------------------------------------------------------------------------------- the door

def real_fer2013_path() -> Path | None:
    """``data/fer2013/`` (CSV or folders) if it holds real FER2013, else ``None``."""
    from facekit.paths import data_dir

    root = data_dir("fer2013")
    if not root.is_dir():
        return None
    if (root / "fer2013.csv").is_file() or any(p.is_dir() and p.name.lower() in _SPLIT_FOLDERS
                                               for p in root.iterdir()):
        return root
    return None
