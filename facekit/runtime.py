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


#: ``$FACEKIT_THREADS``: a number forces that many torch threads; unset (or ``auto``) applies :func:`thread_policy`.
THREADS_ENV = "FACEKIT_THREADS"


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def busy_cores(sample_s: float = 0.3) -> float | None:
    """Cores kept busy by all processes over the next ``sample_s`` seconds (``/proc/stat``; ``None`` elsewhere)."""
    import time

    def read():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values), values[3] + (values[4] if len(values) > 4 else 0)

    try:
        total0, idle0 = read()
        time.sleep(sample_s)
        total1, idle1 = read()
    except (OSError, ValueError, IndexError):
        return None
    if total1 <= total0:
        return None
    return (os.cpu_count() or 1) * (1 - (idle1 - idle0) / (total1 - total0))


@dataclass(frozen=True)
class ThreadPolicy:
    """How many torch threads and how OpenMP waits, and why (what ``facekit doctor`` prints)."""

    threads: int
    wait_policy: str
    reason: str

    def __str__(self) -> str:
        return f"{self.threads} torch thread{'s' * (self.threads > 1)}, OMP_WAIT_POLICY={self.wait_policy}: {self.reason}"


def thread_policy(busy: float | None = None, cores: int | None = None, env: dict | None = None) -> ThreadPolicy:
    """The workbook's thread policy. OpenMP threads wait PASSIVE (they sleep instead of spinning, so a descheduled
    thread costs little); all usable cores when they are free, and one thread fewer per core that other processes
    keep busy (``busy``, sampled when not given), never below one: on a 2-core machine with one other busy process
    two threads spend most of each step waiting for each other (see the README's thread table).
    ``$FACEKIT_THREADS`` and ``$OMP_WAIT_POLICY`` override it."""
    env = os.environ if env is None else env
    cores = cores or usable_cores()
    wait = env.get("OMP_WAIT_POLICY", "PASSIVE").upper() or "PASSIVE"
    forced = env.get(THREADS_ENV, "").strip().lower()
    if forced and forced != "auto":
        return ThreadPolicy(max(1, int(forced)), wait, f"${THREADS_ENV}={forced}")
    busy = busy_cores() if busy is None else busy
    if busy is None:
        return ThreadPolicy(cores, wait, f"all {cores} cores (no load reading on this system)")
    free = cores - busy
    threads = max(1, min(cores, int(free + 0.5)))
    why = (f"{busy:.1f} of {cores} cores busy before start, so {threads} thread{'s' * (threads > 1)} "
           + ("(all cores free)" if threads == cores else "(one per free core; more would wait for each other)"))
    return ThreadPolicy(threads, wait, why)


def thread_env(env: dict | None = None) -> dict[str, str]:
    """Variables that must be set before torch starts its OpenMP threads (a kernel's or child's environment):
    ``OMP_WAIT_POLICY=PASSIVE`` unless the user set it. Returns the updated copy of ``env`` (default: os.environ)."""
    out = dict(os.environ if env is None else env)
    out.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return out


def set_threads(n: int | None = None) -> int:
    """Set torch's intra-op threads (default: :func:`thread_policy`, which honours ``$FACEKIT_THREADS``) and
    return the number used."""
    if n is None:
        n = thread_policy().threads
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
