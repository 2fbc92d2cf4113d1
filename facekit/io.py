"""Atomic writes of figures, tables, metrics and checkpoints.

Every file is written to a temporary sibling and moved into place with ``os.replace``, so an interrupted run never
leaves a half-written checkpoint or CSV behind: the old file stays until the new one is complete.
"""
from __future__ import annotations

import errno
import functools
import io
import json
import math
import os
import tempfile
from contextlib import contextmanager
from glob import escape as glob_escape
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Iterator

import torch

from facekit import paths
from facekit.runtime import current_context
import re


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    """The process umask (read once, on the first write: reading it means setting it, so not at import time)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give them the modes a plain open() would
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def sweep_temp_files(folder: str | os.PathLike, names) -> list[Path]:
    """Remove the temporary siblings (``.<name>.*.tmp*``) that :func:`atomic_path` leaves when a write of one of
    ``names`` in ``folder`` was killed (SIGKILL, power loss); returns what was removed. Called when the next run
    that writes those files starts."""
    folder, removed = Path(folder), []
    if not folder.is_dir():
        return removed
    for name in names:
        for tmp in folder.glob(f".{glob_escape(name)}.*.tmp*"):
            try:
                tmp.unlink()
                removed.append(tmp)
            except OSError:  # gone already, or not ours to remove: leave it
                pass
    return removed


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def check_output(path: str | os.PathLike, *, force: bool = False, flag: str = "--force", ship: bool = False) -> Path:
    """Check, before any work, that ``path`` can be written: refuse a file in the shipped ``data/checkpoints/``
    unless ``ship``, an existing file unless ``force`` (naming ``flag``), a folder, and a parent that cannot be
    created or written (or is a file). Returns ``path``. Every command that writes a file the user names checks
    it here, so one rule holds for all of them."""
    path = Path(path)
    if _is_shipped(path) and not ship:
        raise FileExistsError(f"{path} is a shipped checkpoint (data/checkpoints/): it is replaced only with --ship; "
                              "write elsewhere (e.g. under build/).")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file name.")
    if path.exists() and not force:
        raise FileExistsError(f"{path} already exists; pass {flag} to replace it, or choose another output.")
    parent = path.parent
    blocker = next((p for p in (parent, *parent.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise NotADirectoryError(f"Cannot write {path}: {blocker} is a file, not a folder. Choose another output.")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise PermissionError(f"Cannot write {path}: {exc.strerror or exc} in {parent}. Choose a writable output "
                              "(e.g. under build/).") from None
    return path


#: The entry-point group through which an installed tool adds files beside every saved figure and table (the hand-in
#: kit's print PDFs and LaTeX tables, ``facekit_tools.handin.report``). Each entry point names an object with
#: ``figure(fig, path, *, width, report)`` and ``table(df, path, *, caption, decimals, index, report)``.
_SIDE_OUTPUTS = "facekit.side_outputs"


@functools.lru_cache(maxsize=1)
def _side_writers() -> tuple:
    """The installed side-output writers (read once: entry points do not change while a kernel runs)."""
    return tuple(ep.load() for ep in entry_points(group=_SIDE_OUTPUTS))


def check_output_dir(path: str | os.PathLike) -> Path:
    """Check, before any work, that the folder ``path`` can be created and written: an ``OSError`` naming it (a
    file in the way, a read-only or full disk) otherwise. Returns ``path``."""
    path = Path(path)
    blocker = next((p for p in (path, *path.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, f"{blocker} is a file, not a folder", str(path))
    path.mkdir(parents=True, exist_ok=True)
    fd, probe = tempfile.mkstemp(prefix=".facekit.", suffix=".probe", dir=path)
    os.close(fd)
    os.unlink(probe)
    return path


def _output_path(name: str, suffix: str, out_dir: str | os.PathLike | None) -> Path:

    if out_dir is None:
        ctx = current_context()
        if ctx is None:
            raise RuntimeError(
                "No output folder: call facekit.setup('NN_notebook', ...) in the set-up cell, or pass out_dir=."
            )
        out_dir = ctx.out_dir
    name = str(name)
    if not name.endswith(suffix):
        name += suffix
    return Path(out_dir) / name


def save_fig(fig, name: str, out_dir: str | os.PathLike | None = None, dpi: int = 110, *,
             report: bool | None = None, width: str | float | None = None, **kwargs) -> Path:
    """Save a matplotlib ``Figure`` as ``<out_dir>/<name>.png`` (or ``.jpg`` when ``name`` ends so), atomically.

    Installed side outputs (:data:`_SIDE_OUTPUTS`) write their copies beside it; ``report`` (True, False or None for
    their default) and ``width`` are passed to them. The hand-in kit's writes a vector ``<name>.pdf`` sized for an IEEE
    column or page. Returns the PNG's (or JPEG's) path.
    """
    suffix = Path(name).suffix if Path(name).suffix in {".png", ".jpg", ".jpeg", ".pdf", ".svg"} else ".png"
    path = _output_path(name, suffix, out_dir)
    buf = io.BytesIO()
    fig.savefig(buf, format=suffix.lstrip(".").replace("jpg", "jpeg"), dpi=dpi, bbox_inches="tight", **kwargs)
    written = atomic_write_bytes(path, buf.getvalue())
    if suffix not in {".pdf", ".svg"}:
        for writer in _side_writers():
            writer.figure(fig, path, width=width, report=report)
    return written


def save_table(df, name: str, out_dir: str | os.PathLike | None = None, index: bool = True, *,
               caption: str | None = None, decimals: int = 3, report: bool | None = None) -> Path:
    """Save a pandas ``DataFrame`` as ``<out_dir>/<name>.csv``, atomically.

    Installed side outputs (:data:`_SIDE_OUTPUTS`) write their copies beside it, given ``caption`` (default: the table's
    name and the notebook's), ``decimals`` and ``report`` (see :func:`save_fig`); the hand-in kit's writes a booktabs
    ``<name>.tex``. Returns the CSV's path.
    """
    path = _output_path(name, ".csv", out_dir)
    written = atomic_write_text(path, df.to_csv(index=index))
    for writer in _side_writers():
        writer.table(df, path, caption=caption, decimals=decimals, index=index, report=report)
    return written


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return _jsonable(value.tolist())
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    elif hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def _repo_relative(value: Any, root: Path) -> Any:
    """``value`` with every path inside the repository written relative to its root (POSIX separators), so a
    metrics file names the same files on every machine: a ``Path``, or a string that is an absolute path (notebooks
    often pass ``str(path)``); paths outside the repository and other strings stay as they are."""
    if isinstance(value, dict):
        return {k: _repo_relative(v, root) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_repo_relative(v, root) for v in value]
    if isinstance(value, str) and os.path.isabs(value):
        value = Path(value)
    if isinstance(value, Path):
        try:
            return value.resolve().relative_to(root).as_posix()
        except ValueError:
            return str(value)
    return value


def save_metrics(metrics: dict, name: str = "metrics", out_dir: str | os.PathLike | None = None) -> Path:
    """Save a dict of numbers as ``<out_dir>/<name>.json`` (NumPy/torch scalars converted, NaN -> null, paths inside
    the repository made relative to its root)."""

    path = _output_path(name, ".json", out_dir)
    metrics = _repo_relative(metrics, paths.repo_root().resolve())
    return atomic_write_text(path, json.dumps(_jsonable(metrics), indent=2, sort_keys=True) + "\n")


#: What ``torch.load(weights_only=True)`` refuses in a checkpoint that facekit itself wrote before it stored plain
#: types (a ``TorchVersion``, NumPy scalars): such a file is an *old format*, not an attack, and converts once.
_OLD_FORMAT_GLOBALS = ("torch.torch_version.TorchVersion", "numpy.", "pandas.", "pathlib.", "collections.OrderedDict")


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded safely or holds an unusable model; the message names the file and the fix."""


def plain(value: Any) -> Any:
    """``value`` with only the types ``torch.load(weights_only=True)`` accepts: dicts, lists, tuples, str, int, float,
    bool, None and tensors (NumPy scalars -> Python numbers, arrays -> tensors, ``TorchVersion``/paths -> str)."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, dict):
        return {(k if isinstance(k, (str, int)) else str(k)): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [plain(v) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, str):  # TorchVersion and other str subclasses
        return str(value)
    if hasattr(value, "dtype") and hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        return value.item()  # NumPy scalars and 0-d arrays
    if hasattr(value, "dtype") and hasattr(value, "shape") and hasattr(value, "tolist"):
        return torch.as_tensor(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    raise TypeError(f"Cannot store a {type(value).__module__}.{type(value).__qualname__} in a checkpoint: use plain "
                    "Python types (dict, list, str, int, float, bool, None) and tensors.")


def non_finite(obj: dict) -> list[str]:
    """Names of the floating-point weights (``state_dict``) and the numbers under ``metrics``/``scores`` and the last
    ``history`` row that are NaN or infinite (``None`` means "not measured" and is allowed)."""
    bad = [k for k, v in (obj.get("state_dict") or {}).items()
           if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())]

    def walk(value, where):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{where}.{k}")
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(v, f"{where}[{i}]")
        elif isinstance(value, float) and not math.isfinite(value):
            bad.append(where)

    walk(obj.get("metrics"), "metrics")
    walk(obj.get("scores"), "scores")
    history = obj.get("history")
    if isinstance(history, list) and history and isinstance(history[-1], dict):
        walk({k: v for k, v in history[-1].items() if k.startswith(("val_", "train_loss"))},
             "history[-1]")
    return bad


def _is_shipped(path: Path) -> bool:

    try:
        return path.resolve().parent == paths.shipped_checkpoint_dir().resolve()
    except OSError:
        return False


def save_checkpoint(obj: dict, path: str | os.PathLike) -> Path:
    """``torch.save`` to ``path`` atomically (the previous checkpoint survives a crash mid-write).

    The dict is stored as plain types (:func:`plain`), so :func:`load_checkpoint` reads it with
    ``weights_only=True``. Non-finite weights are never written (:class:`CheckpointError`); a file in the shipped
    folder ``data/checkpoints/`` is also not replaced when its metrics or last validation scores are NaN or infinite.
    """
    path = Path(path)
    obj = plain(obj)
    bad = non_finite(obj)
    weights_bad = [b for b in bad if not b.startswith(("metrics", "scores", "history"))]
    if weights_bad or (bad and _is_shipped(path)):
        kind = "weights" if weights_bad else "metrics"
        raise CheckpointError(
            f"Refusing to write {path}: its {kind} are not finite (NaN or inf in {', '.join(bad[:6])}"
            f"{' ...' if len(bad) > 6 else ''}). The training diverged: lower the learning rate or check the labels; "
            f"{'the shipped file is left as it was' if path.exists() else 'nothing was written'}.")
    buf = io.BytesIO()
    torch.save(obj, buf)
    return atomic_write_bytes(path, buf.getvalue())


def _unsupported_global(exc: Exception) -> str | None:

    match = re.search(r"(?:Unsupported global: GLOBAL|Unsupported class) ([\w.]+)", str(exc))
    return match.group(1) if match else None


def read_torch_file(path: str | os.PathLike, map_location: str | torch.device = "cpu"):
    """Whatever a torch file holds, read safely (``torch.load(weights_only=True)``: a file cannot run code), with an
    error that says what to do when the file is missing, corrupt or in facekit's old pickle format. Callers check
    the structure (:func:`load_checkpoint` for facekit files; :mod:`facekit.kit_formats` for the starters' files)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint {path} does not exist.")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for a truncated or foreign file
        name = _unsupported_global(exc)
        if name is not None and name.startswith(_OLD_FORMAT_GLOBALS):
            raise CheckpointError(
                f"Checkpoint {path} is in facekit's old format: it stores a Python object ({name}) that safe "
                "loading (torch.load weights_only=True) refuses, because such objects can run code. If you trust "
                "where the file came from, convert it once with "
                f"`python -c \"from facekit.io import convert_checkpoint; convert_checkpoint('{path}', trust=True)\"`"
                "; else retrain it.") from None
        if name is not None:
            raise CheckpointError(
                f"Checkpoint {path} was NOT loaded: it contains a Python object ({name}) that would run code when "
                "loaded. facekit checkpoints hold only tensors and plain values; this file is not one (it may be "
                "malicious). Delete it and retrain, or restore the shipped copy with `git checkout -- "
                "data/checkpoints`.") from None
        raise CheckpointError(
            f"Checkpoint {path} is unreadable ({type(exc).__name__}: {str(exc)[:200]}). It is corrupt or not a torch "
            "file: delete it and retrain, or restore the shipped copy with `git checkout -- data/checkpoints`."
        ) from exc
    return obj


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load a facekit checkpoint safely (``torch.load(weights_only=True)``: a file cannot run code), with an error
    that says what to do when the file is missing, corrupt, in the old pickle format, or holds non-finite weights."""
    path = Path(path)
    obj = read_torch_file(path, map_location)
    if not isinstance(obj, dict) or "state_dict" not in obj:
        raise CheckpointError(f"Checkpoint {path} is not a facekit checkpoint (expected a dict with a 'state_dict').")
    bad = [b for b in non_finite({"state_dict": obj["state_dict"]})]
    if bad:
        raise CheckpointError(f"Checkpoint {path} holds non-finite weights (NaN or inf in {', '.join(bad[:6])}): the "
                              "training that wrote it diverged. Retrain it (with a lower learning rate).")
    return obj


def resume_note(path: str | os.PathLike, resume: bool, total_epochs: int) -> str | None:
    """What ``--resume`` will do, for the trainers' first line: continue from ``path`` at its epoch, or start
    fresh because there is no such file (a mistyped --work-dir or --out shows here). None without --resume."""
    if not resume:
        return None
    path = Path(path)
    if not path.is_file():
        return f"--resume: no checkpoint at {path}, so training starts fresh (epoch 1 of {total_epochs})."
    done = load_checkpoint(path).get("epoch")
    if done is None:
        return f"--resume: continuing from {path}."
    if int(done) >= total_epochs:
        return f"--resume: {path} has finished {done} of {total_epochs} epochs already; nothing left to train."
    return f"--resume: continuing from {path} after epoch {done} (epoch {int(done) + 1} of {total_epochs} next)."


def convert_checkpoint(src: str | os.PathLike, dst: str | os.PathLike | None = None, *, trust: bool = False) -> Path:
    """Rewrite an old-format checkpoint (pickled ``TorchVersion``/NumPy values) as plain types that
    :func:`load_checkpoint` reads safely; ``dst`` defaults to ``src``. Unpickling the old file can run code, so this
    needs ``trust=True``: do it only for a file you made or got from a source you trust. The weights stay identical."""
    src = Path(src)
    if not trust:
        raise CheckpointError(f"convert_checkpoint({str(src)!r}) unpickles the file, which can run code: pass "
                              "trust=True only for a file you made or got from a source you trust.")
    obj = torch.load(src, map_location="cpu", weights_only=False)
    if not isinstance(obj, dict) or "state_dict" not in obj:
        raise CheckpointError(f"{src} is not a facekit checkpoint (expected a dict with a 'state_dict').")
    return save_checkpoint(obj, dst if dst is not None else src)
