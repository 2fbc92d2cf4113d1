"""Real data through the same door as the synthetic faces: FER2013 (CSV or folders) and AU-labelled images.
:func:`real_fer2013_path` says whether ``data/fer2013/`` holds real FER2013; the Task 1 loader that falls back to the
synthetic twin is :func:`facekit.emotion.data.load_emotion_data` (``data`` never imports ``synth``).

Every malformed input raises :class:`DataError` (a ``ValueError``) naming the file, the row or image, and the fix.
"""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from facekit.data.faceset import FaceSet
from facekit.data.fer import EMOTION_SYNONYMS, EMOTIONS, SPLITS
from facekit.data.images import ImageTooLarge, imread
from facekit import paths
import pandas as pd
import re

#: Image file suffixes the folder loaders read.
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".pgm")

#: Kaggle's folder names for the FER2013 classes (``fearful``/``surprised`` variants seen in re-uploads too).
_FOLDER_NAMES: dict[str, int] = {
    **{name: i for i, name in enumerate(EMOTIONS)},
    **{other: EMOTIONS.index(name) for other, name in EMOTION_SYNONYMS.items() if name is not None},
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

#: File names read as Kaggle's CSV inside a FER2013 folder (compared case-insensitively; ``.gz`` is decompressed).
_FER_CSV_NAMES = ("fer2013.csv", "fer2013.csv.gz", "icml_face_data.csv", "icml_face_data.csv.gz")


def _fer_csv_in(folder: Path) -> Path | None:
    """``fer2013.csv`` (any case, or gzipped; else Kaggle's ``icml_face_data.csv``) in ``folder``, else ``None``."""
    files = {p.name.lower(): p for p in sorted(folder.iterdir()) if p.is_file()}
    return next((files[name] for name in _FER_CSV_NAMES if name in files), None)


def _holds_fer2013(folder: Path) -> bool:
    return _fer_csv_in(folder) is not None or any(p.is_dir() and p.name.lower() in _SPLIT_FOLDERS
                                                  for p in folder.iterdir())


def find_fer2013(root: str | os.PathLike) -> Path | None:
    """The folder under ``root`` that holds FER2013: ``root`` itself or one level down (the course's
    ``dataset/fer2013.csv``, the Kaggle tarball's ``fer2013/fer2013.csv``), a CSV named ``fer2013.csv`` or
    ``icml_face_data.csv``, or Kaggle's train/ and test/ folders; ``None`` when there is none."""
    root = Path(root)
    if root.is_file():
        return root
    if not root.is_dir():
        return None
    if _holds_fer2013(root):
        return root
    return next((sub for sub in _visible(root) if sub.is_dir() and _holds_fer2013(sub)), None)


def load_fer2013(path: str | os.PathLike, split: str | None = None) -> FaceSet:
    """Read FER2013 into memory: Kaggle's ``fer2013.csv`` (``emotion,pixels,Usage``) or the Kaggle folder layout
    (``train/<class>/*.png|jpg``, ``test/<class>/...``, class folders matched by name, e.g. ``angry``,
    ``disgust``...). A folder holding ``fer2013.csv`` (any case, or ``fer2013.csv.gz``) is read as that CSV.

    Header names and ``Usage`` values are matched case-insensitively. A CSV without a ``Usage`` column is refused
    (every face would silently become a training face) unless ``split`` names the split all its rows belong to."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"FER2013 not found at {path}. {_fix_hint()}")
    if path.is_dir():
        csvs = sorted(p for p in path.iterdir() if p.is_file() and p.name.lower().endswith((".csv", ".csv.gz")))
        named = _fer_csv_in(path)
        if named is not None:
            return _load_fer_csv(named, split)
        if any(p.is_dir() and p.name.lower() in _SPLIT_FOLDERS for p in path.iterdir()):
            return _load_fer_folders(path)
        if len(csvs) == 1:
            return _load_fer_csv(csvs[0], split)
        raise DataError(f"{path} holds neither fer2013.csv nor split folders (train/, test/) with one sub-folder "
                        f"per emotion ({', '.join(EMOTIONS)}). {_fix_hint()}")
    return _load_fer_csv(path, split)


def _load_fer_csv(path: Path, split: str | None = None) -> FaceSet:

    with open(path, "rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"  # gzip bytes, whatever the file is called
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig",
                            compression="gzip" if gzipped else None)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty: expected a header 'emotion,pixels,Usage' and one row per face.") from None
    except (OSError, EOFError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        what = "gzip-compressed FER2013 CSV" if gzipped else "FER2013 CSV"
        raise DataError(f"Cannot read {path} as a {what} ({type(exc).__name__}: {str(exc)[:200]}). "
                        f"{_fix_hint()}") from exc
    table.columns = [str(c).strip() for c in table.columns]
    by_lower = {c.lower(): c for c in table.columns}
    table = table.rename(columns={by_lower[k]: k.capitalize() if k == "usage" else k
                                  for k in (*_FER_COLUMNS, "usage") if k in by_lower})
    missing = [c for c in _FER_COLUMNS if c not in table.columns]
    if missing:
        found = ", ".join(repr(c[:30] + "..." if len(c) > 30 else c) for c in table.columns[:6])
        more = f" (+{len(table.columns) - 6} more)" if len(table.columns) > 6 else ""
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; found {found or 'none'}{more}. "
                        "A FER2013 CSV has the header 'emotion,pixels,Usage' (is the header line missing?).")
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
        codes = usage.str.lower().map({s.lower(): k for k, s in enumerate(SPLITS)})
        unknown = codes.isna()
        if unknown.any():
            i = int(unknown.to_numpy().nonzero()[0][0])
            raise DataError(f"{where(i)}: unknown Usage {usage.iloc[i]!r}; expected one of {', '.join(SPLITS)}.")
        usage_codes = codes.to_numpy()
    elif split is not None:
        if split not in SPLITS:
            raise DataError(f"load_fer2013(split={split!r}): the split must be one of {', '.join(SPLITS)}.")
        usage_codes = np.full(len(table), SPLITS.index(split), dtype=np.int64)
    else:
        raise DataError(f"{path}: no 'Usage' column, so it is unknown which faces are for training and which for "
                        f"testing (found {', '.join(table.columns)}). Add the column (Training, PublicTest or "
                        "PrivateTest per row), or pass load_fer2013(..., split='Training') to use every row as one "
                        "split.")
    pixels = _parse_pixels(table["pixels"], where)
    return FaceSet(images=torch.from_numpy(pixels.reshape(-1, 48, 48)),
                   emotion=torch.from_numpy(emotion.to_numpy().astype(np.int64)),
                   usage=torch.from_numpy(usage_codes.astype(np.int64)),
                   source=f"FER2013 CSV {path}" + (" (gzip)" if gzipped else ""),
                   meta={"path": str(path), "format": "csv.gz" if gzipped else "csv"})


def _parse_pixels(column, where) -> np.ndarray:
    """(N, 2304) uint8 from the ``pixels`` strings: pandas' C parser in one go, a row-by-row diagnosis on failure."""
    n_pix = 48 * 48

    def parse(texts):
        try:
            return pd.read_csv(io.StringIO("\n".join(texts)), sep=" ", header=None, dtype=np.float64,
                               skip_blank_lines=False, engine="c").to_numpy()
        except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
            return None

    def good(values):
        return (values is not None and values.shape == (len(column), n_pix) and np.isfinite(values).all()
                and values.min() >= 0 and values.max() <= 255 and (values == np.round(values)).all())

    counts = column.str.count(r"\S+").to_numpy()  # bounded work: no row reaches the parser with a wrong count
    wrong = np.flatnonzero(counts != n_pix)
    if len(wrong):
        i = int(wrong[0])
        head = column.iloc[i].split(maxsplit=n_pix + 1)[:n_pix + 1]  # at most 2305 tokens of a huge row
        bad = next((t for t in head if not is_number(t) or not np.isfinite(float(t))), None)
        if bad is not None:
            raise DataError(f"{where(i)}: pixel value {bad[:20]!r} is not a number; pixels must be {n_pix} "
                            "space-separated integers 0-255.")
        raise DataError(f"{where(i)}: expected {n_pix} pixel values (48x48), found {int(counts[i])}.")
    values = parse(column.str.strip())
    if not good(values):  # double spaces, tabs or newlines between values are still valid: one space each
        values = parse(column.str.replace(r"\s+", " ", regex=True).str.strip())
    if good(values):
        return values.astype(np.uint8)
    for i, text in enumerate(column):  # slow path: find the first bad row and say what is wrong with it
        tokens = text.split()
        bad = next((t for t in tokens if not is_number(t) or not np.isfinite(float(t))), None)
        if bad is not None:
            raise DataError(f"{where(i)}: pixel value {bad[:20]!r} is not a number; pixels must be {n_pix} "
                            "space-separated integers 0-255.")
        if len(tokens) != n_pix:
            raise DataError(f"{where(i)}: expected {n_pix} pixel values (48x48), found {len(tokens)}.")
        row = np.array(tokens, dtype=np.float64)
        if row.min() < 0 or row.max() > 255:
            raise DataError(f"{where(i)}: pixel values must lie in 0-255, found {row.min():g}..{row.max():g}.")
        fractional = next((t for t, v in zip(tokens, row) if v != round(v)), None)
        if fractional is not None:
            raise DataError(f"{where(i)}: pixel value {fractional!r} is not a whole number; FER2013 pixels are "
                            "integers 0-255 (round them when you write the file).")
    raise DataError(f"{where(0).split(' row ')[0]}: pixels could not be parsed; each row needs {n_pix} integers "
                    "0-255.")


def is_number(token: str) -> bool:
    """Whether ``float(token)`` parses (``nan`` and ``inf`` included; callers check finiteness)."""
    try:
        float(token)
        return True
    except ValueError:
        return False


def read_image(path: Path, size: int | None = None, gray: bool = True) -> np.ndarray:
    """Read one image as uint8 (H, W) gray or (H, W, 3) RGB, resized to ``size`` x ``size`` if given; a clear
    :class:`DataError` for an empty or unreadable file."""
    import cv2  # lazy: OpenCV's native libraries load only when an image is decoded or a face detected

    path = Path(path)
    if not path.is_file():
        raise DataError(f"Image {path} does not exist; check the path (relative paths are read from the image root).")
    if path.stat().st_size == 0:
        raise DataError(f"Image {path} is empty (0 bytes); re-download or delete it.")
    try:
        img = imread(path, cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR)  # EXIF orientation applied
    except ImageTooLarge as exc:
        raise DataError(str(exc)) from None
    if img is None:
        raise DataError(f"Image {path} is unreadable (not a PNG/JPEG/BMP image or truncated); re-download or delete it.")
    if not gray:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if size is not None and img.shape[:2] != (size, size):
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    return img


def _visible(folder: Path) -> list[Path]:
    """The entries of ``folder`` a person put there: no hidden ones (macOS ``._*``, ``.DS_Store``,
    ``.ipynb_checkpoints/``), sorted by name."""
    return sorted(p for p in folder.iterdir() if not p.name.startswith((".", "__MACOSX")))


def _load_fer_folders(root: Path) -> FaceSet:
    images, labels, usage, files = [], [], [], []
    ignored: list[str] = []   # files that are not read: other formats, loose files, files in sub-folders
    resized = 0               # images that were not 48x48 and were resized
    import cv2

    for split_dir in _visible(root):
        split = _SPLIT_FOLDERS.get(split_dir.name.lower()) if split_dir.is_dir() else None
        if split is None:
            if split_dir.is_file() and split_dir.name.lower() not in {"readme.md", "readme.txt", "license"}:
                ignored.append(str(split_dir.relative_to(root)))
            continue
        entries = _visible(split_dir)
        ignored += [str(p.relative_to(root)) for p in entries if p.is_file()]
        class_dirs = [p for p in entries if p.is_dir()]
        if not class_dirs:
            raise DataError(f"{split_dir} has no class folders; expected one per emotion ({', '.join(EMOTIONS)}).")
        for class_dir in class_dirs:
            label = _FOLDER_NAMES.get(class_dir.name.lower())
            if label is None:
                raise DataError(f"{class_dir}: folder name {class_dir.name!r} is not an emotion; rename it to one of "
                                f"{', '.join(EMOTIONS)}.")
            entries = _visible(class_dir)
            paths = [p for p in entries if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
            ignored += [str(p.relative_to(root)) for p in entries if p not in paths]
            if not paths:
                raise DataError(f"{class_dir} is an empty class folder (no {'/'.join(IMAGE_SUFFIXES)} images); "
                                "add its images or delete the folder.")
            for p in paths:
                img = read_image(p)
                if img.shape != (48, 48):
                    resized += 1
                    img = cv2.resize(img, (48, 48), interpolation=cv2.INTER_AREA)
                images.append(img)
                labels.append(label)
                usage.append(SPLITS.index(split))
                files.append(str(p.relative_to(root)))
    if not images:
        raise DataError(f"{root} holds no train/ or test/ folder with images. {_fix_hint()}")
    if resized:
        warnings.warn(f"{root}: {resized:,} of {len(images):,} images were not 48x48 and were resized (FER2013 faces "
                      "are 48x48; check that these are face crops).", stacklevel=3)
    if ignored:
        shown = ", ".join(ignored[:5]) + (f" (+{len(ignored) - 5:,} more)" if len(ignored) > 5 else "")
        warnings.warn(f"{root}: {len(ignored):,} file(s) not read: {shown}. Only {'/'.join(IMAGE_SUFFIXES)} images "
                      "directly inside <split>/<emotion>/ are faces; convert or move the others.", stacklevel=3)
    return FaceSet(images=torch.from_numpy(np.stack(images)), emotion=torch.tensor(labels, dtype=torch.long),
                   usage=torch.tensor(usage, dtype=torch.long), source=f"FER2013 folders {root}",
                   meta={"path": str(root), "format": "folders", "files": files, "resized": resized,
                         "ignored": ignored})


# --------------------------------------------------------------------------------------------------- AU labels

def au_column(name: str) -> str | None:
    """The canonical name of an AU column (``AU06``, ``au6``, ``AU6`` and ``6`` -> ``AU6``; point columns
    ``AU06_l_x`` -> ``AU6_l_x``), or ``None`` for any other column. Both AU loaders use it, so a file that one
    accepts the other reads the same way."""

    match = re.fullmatch(r"(?:au)?0*(\d+)((?:_[lr]_[xy])?)", str(name).strip(), flags=re.IGNORECASE)
    if match is None:
        return None
    return f"AU{int(match.group(1))}{match.group(2).lower()}"


def duplicate_columns(columns, canonical) -> str | None:
    """A message naming the columns that mean the same thing (``AU6`` and ``AU06``, or ``path`` twice), or None."""
    seen: dict[str, list[str]] = {}
    for original, name in zip(columns, canonical):
        seen.setdefault(name, []).append(str(original))
    clashes = [f"{' and '.join(repr(c) for c in cols)} (both {name})" for name, cols in seen.items() if len(cols) > 1]
    if not clashes:
        return None
    return (f"{'; '.join(clashes[:3])}: the same column appears twice (AU06 and AU6 both mean AU6). Keep one of "
            "them and delete the other.")


def load_au_labels(csv_path: str | os.PathLike, image_root: str | os.PathLike | None = None, size: int = 128,
                   gray: bool = True):
    """Real AU-labelled images: a CSV with a ``path`` column and one column per AU (``AU06``, ``AU6`` or ``6``),
    intensities on the FACS 0-5 scale (empty, ``nan`` or ``NA`` = unknown, read as NaN: this loader is for
    browsing and evaluation; the FAU trainer's :func:`facekit.fau.data.load_au_csv` needs every intensity).

    Returns ``(images, au_table)``: uint8 (N, size, size) (or (N, size, size, 3) when ``gray=False``) and a pandas
    DataFrame with ``path`` and one float column per AU, named ``AU<k>`` after :data:`facekit.synth.AUS` order
    where present. Relative paths are read from ``image_root`` (default: the CSV's folder).
    """

    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"AU label file {csv_path} does not exist; pass the CSV of 'path,AU01,AU02,...'.")
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except Exception as exc:  # pandas raises several types for a broken CSV
        raise DataError(f"Cannot read {csv_path} as a CSV ({type(exc).__name__}: {exc}).") from exc
    table.columns = [str(c).strip() for c in table.columns]
    clash = duplicate_columns(table.columns, [au_column(c) or c for c in table.columns])
    if clash:
        raise DataError(f"{csv_path}: {clash}")
    if "path" not in table.columns:
        raise DataError(f"{csv_path}: missing column 'path'; found {', '.join(table.columns)}. The AU CSV needs a "
                        "'path' column and one column per AU, e.g. 'path,AU06,AU12'.")
    au_cols = {}
    for c in table.columns:
        name = au_column(c)
        if name is not None and "_" not in name:
            au_cols[c] = name
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
            if not v or v.lower() in {"nan", "na", "n/a"}:
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
    """``data/fer2013/`` or the folder one level down that holds real FER2013 (CSV or folders), else ``None``."""
    root = paths.data_dir("fer2013")
    if not root.is_dir():
        return None
    found = find_fer2013(root)
    if found is not None:
        return found
    ignored = [p.name + ("/" if p.is_dir() else "") for p in _visible(root)
               if p.name.lower() not in {"readme.md", "readme.txt"}]
    if ignored:
        warnings.warn(f"{root} holds {', '.join(ignored[:5])}{' ...' if len(ignored) > 5 else ''} but no "
                      "fer2013.csv (or fer2013.csv.gz, icml_face_data.csv) and no train/ or test/ folders, there or "
                      "one folder down, so the synthetic faces are used. Rename the CSV to fer2013.csv, or move the "
                      "Kaggle train/ and test/ folders there.",
                      stacklevel=2)
    return None
