"""Reproducibility and hardware: seeding, device choice, thread count, and the notebook set-up call."""
from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA); return a fresh ``torch.Generator`` seeded with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return torch.Generator().manual_seed(seed)


def pick_device(prefer: str | None = None) -> torch.device:
    """CUDA, then Apple MPS, then CPU. ``prefer`` (or ``$FACEKIT_DEVICE``) forces one, e.g. ``"cpu"``.

    Asking for a device that is not present raises instead of silently falling back.
    """
    prefer = prefer or os.environ.get("FACEKIT_DEVICE") or None
    if prefer:
        kind = torch.device(prefer).type
        if kind == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("Device 'cuda' was asked for but torch sees no CUDA GPU; use 'cpu' or leave it unset.")
        if kind == "mps" and not _mps_available():
            raise RuntimeError("Device 'mps' was asked for but this torch has no usable MPS backend.")
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def set_threads(n: int | None = None) -> int:
    """Set torch's intra-op threads (default: ``$FACEKIT_THREADS`` or all cores) and return the number used."""
    if n is None:
        n = int(os.environ.get("FACEKIT_THREADS", 0)) or (os.cpu_count() or 1)
    torch.set_num_threads(max(1, int(n)))
    return torch.get_num_threads()


@dataclass(frozen=True)
class NotebookContext:
    """What a notebook's set-up cell decided: where its figures and checkpoints go, the device, the seed."""

    name: str
    out_dir: Path
    ckpt_dir: Path
    device: torch.device
    seed: int
    threads: int

    def __str__(self) -> str:
        return (f"{self.name}: device={self.device.type}, threads={self.threads}, seed={self.seed}, "
                f"figures -> {self.out_dir}, checkpoints -> {self.ckpt_dir}")


_CONTEXT: NotebookContext | None = None


def setup(notebook: str, seed: int = 0, out_dir: str | os.PathLike | None = None,
          ckpt_dir: str | os.PathLike | None = None, device: str | None = None) -> NotebookContext:
    """The call every notebook's set-up cell makes.

    Seeds everything, picks the device, and routes :func:`facekit.save_fig` / ``save_table`` / ``save_metrics`` to
    ``out_dir`` (default ``figures/<notebook-stem>/``) and trained checkpoints to ``ckpt_dir``
    (default :func:`facekit.paths.checkpoint_dir`).
    """
    from facekit import paths

    global _CONTEXT
    seed_everything(seed)
    out = Path(out_dir) if out_dir else paths.figures_dir(notebook)
    ckpt = Path(ckpt_dir) if ckpt_dir else paths.checkpoint_dir()
    out.mkdir(parents=True, exist_ok=True)
    ckpt.mkdir(parents=True, exist_ok=True)
    _CONTEXT = NotebookContext(Path(notebook).stem, out.resolve(), ckpt.resolve(), pick_device(device), seed,
                               set_threads())
    return _CONTEXT


def current_context() -> NotebookContext | None:
    """The context of the last :func:`setup` call in this process, or ``None``."""
    return _CONTEXT
