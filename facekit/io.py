"""Atomic writes of figures, tables, metrics and checkpoints.

Every file is written to a temporary sibling and moved into place with ``os.replace``, so an interrupted run never
leaves a half-written checkpoint or CSV behind: the old file stays until the new one is complete.
"""
from __future__ import annotations

import functools
import io
import json
import math
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch


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


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def _output_path(name: str, suffix: str, out_dir: str | os.PathLike | None) -> Path:
    from facekit.runtime import current_context

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


def save_fig(fig, name: str, out_dir: str | os.PathLike | None = None, dpi: int = 110, **kwargs) -> Path:
    """Save a matplotlib ``Figure`` as ``<out_dir>/<name>.png`` (or ``.jpg`` when ``name`` ends so), atomically."""
    suffix = Path(name).suffix if Path(name).suffix in {".png", ".jpg", ".jpeg", ".pdf", ".svg"} else ".png"
    path = _output_path(name, suffix, out_dir)
    buf = io.BytesIO()
    fig.savefig(buf, format=suffix.lstrip(".").replace("jpg", "jpeg"), dpi=dpi, bbox_inches="tight", **kwargs)
    return atomic_write_bytes(path, buf.getvalue())


def save_table(df, name: str, out_dir: str | os.PathLike | None = None, index: bool = True) -> Path:
    """Save a pandas ``DataFrame`` as ``<out_dir>/<name>.csv``, atomically."""
    path = _output_path(name, ".csv", out_dir)
    return atomic_write_text(path, df.to_csv(index=index))


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
    """``value`` with every ``Path`` inside the repository written relative to its root (POSIX separators), so a
    metrics file names the same files on every machine; paths outside the repository stay as they are."""
    if isinstance(value, dict):
        return {k: _repo_relative(v, root) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_repo_relative(v, root) for v in value]
    if isinstance(value, Path):
        try:
            return value.resolve().relative_to(root).as_posix()
        except ValueError:
            return str(value)
    return value


def save_metrics(metrics: dict, name: str = "metrics", out_dir: str | os.PathLike | None = None) -> Path:
    """Save a dict of numbers as ``<out_dir>/<name>.json`` (NumPy/torch scalars converted, NaN -> null, paths inside
    the repository made relative to its root)."""
    from facekit.paths import repo_root

    path = _output_path(name, ".json", out_dir)
    metrics = _repo_relative(metrics, repo_root().resolve())
    return atomic_write_text(path, json.dumps(_jsonable(metrics), indent=2, sort_keys=True) + "\n")


def load_metrics(name: str = "metrics", out_dir: str | os.PathLike | None = None) -> dict:
    return json.loads(_output_path(name, ".json", out_dir).read_text())


def save_checkpoint(obj: dict, path: str | os.PathLike) -> Path:
    """``torch.save`` to ``path`` atomically (the previous checkpoint survives a crash mid-write)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load a facekit checkpoint, with an error that says what to do when the file is missing or corrupt."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint {path} does not exist.")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # torch raises several types for a truncated or foreign file
        raise ValueError(
            f"Checkpoint {path} is unreadable ({type(exc).__name__}: {exc}). It is corrupt or not a torch file: "
            "delete it and retrain, or restore the shipped copy with `git checkout -- data/checkpoints`."
        ) from exc
    if not isinstance(obj, dict) or "state_dict" not in obj:
        raise ValueError(f"Checkpoint {path} is not a facekit checkpoint (expected a dict with a 'state_dict').")
    return obj
