"""Reproducibility and hardware: seeding, device choice, thread count, and the notebook set-up call."""
from __future__ import annotations

import os
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from facekit.quick import quick_sizes
from facekit import paths
import time


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA); return a fresh ``torch.Generator`` seeded with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return torch.Generator().manual_seed(seed)


def count_parameters(model: torch.nn.Module, trainable_only: bool = True) -> int:
    """Number of parameters of ``model`` (only those with ``requires_grad`` unless ``trainable_only=False``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


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


def _cpu_seconds() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine since boot, summed over its cores (``/proc/stat``; ``None``
    where there is none). Busy is everything except idle and iowait; guest time is already inside user time."""
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    if len(values) < 4:
        return None
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values) - idle) / tick, sum(values) / tick


def _busy_cores(sample_s: float = 0.3) -> float | None:
    """Cores kept busy by all processes over the next ``sample_s`` seconds (``/proc/stat``; ``None`` elsewhere)."""
    first = _cpu_seconds()
    time.sleep(sample_s)
    second = _cpu_seconds()
    if first is None or second is None or second[1] <= first[1]:
        return None
    return (os.cpu_count() or 1) * (second[0] - first[0]) / (second[1] - first[1])


@dataclass(frozen=True)
class ThreadPolicy:
    """How many torch threads, and why (what ``facekit doctor`` prints)."""
    threads: int
    wait_policy: str
    reason: str
    adaptive: bool = False

    def __str__(self) -> str:
        follow = "; re-checked every second while facekit trains or renders" if self.adaptive else ""
        return (f"{self.threads} torch thread{'s' * (self.threads > 1)}, OMP_WAIT_POLICY={self.wait_policy}: "
                f"{self.reason}{follow}")


def thread_policy(busy: float | None = None, cores: int | None = None, env: dict | None = None) -> ThreadPolicy:
    """The workbook's thread policy: one torch thread per core that other processes leave free (``busy``, sampled
    when not given), all usable cores when they are free, never below one; and it follows the load while facekit
    works (:class:`ThreadGovernor`). OpenMP keeps its default wait policy (spin briefly, then sleep), which is the
    fastest on free cores; it only collapses when two spinning threads share a core with another process, and
    then the governor has already dropped to one thread (README, Threads).
    ``$FACEKIT_THREADS`` (a fixed count, never changed) and ``$OMP_WAIT_POLICY`` override it."""
    env = os.environ if env is None else env
    cores = cores or usable_cores()
    wait = env.get("OMP_WAIT_POLICY", "").strip().upper() or "unset (OpenMP default: spin briefly, then sleep)"
    forced = env.get(THREADS_ENV, "").strip().lower()
    if forced and forced != "auto":
        try:
            count = int(forced)
        except ValueError:
            raise ValueError(f"${THREADS_ENV}={forced!r} is not a number of threads; set a whole number such as 1, "
                             f"or 'auto' (or unset it) for facekit's policy.") from None
        return ThreadPolicy(max(1, count), wait, f"${THREADS_ENV}={forced}")
    busy = _busy_cores() if busy is None else busy
    if busy is None:
        return ThreadPolicy(cores, wait, f"all {cores} cores (no load reading on this system)")
    threads = _threads_for(cores - busy, cores)
    why = (f"{busy:.1f} of {cores} cores busy before start, so {threads} thread{'s' * (threads > 1)} "
           + ("(all cores free)" if threads == cores else "(one per free core; more would wait for each other)"))
    return ThreadPolicy(threads, wait, why, adaptive=True)


def _threads_for(free: float, cores: int, current: int | None = None) -> int:
    """Threads for ``free`` cores, with a margin against flapping: one thread fewer as soon as other processes take
    0.4 of a core (two spin-waiting threads already lose most of their speed then), one more only when they leave
    all but 0.25 of it free; between the two, ``current`` stays (no ``current``: the first choice, same rule as
    going down)."""
    down = max(1, min(cores, int(free + 0.4)))
    if current is None or down < current:
        return down
    up = max(1, min(cores, int(free + 0.25)))
    return up if up > current else current


class ThreadGovernor:
    """Keeps torch's thread count at one per core that *other* processes leave free while facekit works.

    :func:`adapt_threads` (called by the trainers, the evaluation loops and the renderer between steps) reads the
    machine's busy CPU time and this process's own CPU time at most once per ``interval_s``; other processes' load
    is the difference, so this process's own threads (spinning ones included) never count against it. A browser
    that starts playing a video in the middle of Task 1 training thus costs one thread within a second, instead of
    the 3-20x collapse of two spin-waiting threads on a shared core; when it stops, the thread comes back.
    ``history`` keeps (seconds since start, other processes' busy cores, threads) of every change."""

    def __init__(self, cores: int | None = None, interval_s: float = 1.0, read=None, clock=None, own=None):

        self.cores = cores or usable_cores()
        self.interval_s = interval_s
        self._read = read or _cpu_seconds
        self._clock = clock or time.monotonic
        self._own = own or time.process_time
        self._start = self._clock()
        self._last = (self._clock(), self._read(), self._own())
        self.history: list[tuple[float, float, int]] = []

    def others_busy(self) -> float | None:
        """Cores other processes kept busy since the last reading (and start a new interval), or ``None``."""
        now, machine, own = self._clock(), self._read(), self._own()
        (then, machine0, own0), self._last = self._last, (now, machine, own)
        if machine is None or machine0 is None or machine[1] <= machine0[1] or now <= then:
            return None
        machine_cores = self.cores_total() * (machine[0] - machine0[0]) / (machine[1] - machine0[1])
        return max(0.0, machine_cores - (own - own0) / (now - then))

    def cores_total(self) -> int:
        return os.cpu_count() or self.cores

    def update(self) -> int:
        """Re-check the load if ``interval_s`` has passed and set the threads; return the threads in use."""
        current = torch.get_num_threads()
        if self._clock() - self._last[0] < self.interval_s:
            return current
        others = self.others_busy()
        if others is None:
            return current
        want = _threads_for(self.cores - others, self.cores, current)
        if want != current:
            torch.set_num_threads(want)
            self.history.append((round(self._clock() - self._start, 2), round(others, 2), want))
        return want


_GOVERNOR: ThreadGovernor | None = None


def adapt_threads() -> int:
    """Follow the machine's load between steps of long work (a no-op unless the thread count was chosen by
    facekit's policy, see :func:`set_threads`); returns torch's thread count."""
    return _GOVERNOR.update() if _GOVERNOR is not None else torch.get_num_threads()


def thread_governor() -> ThreadGovernor | None:
    """The governor in force in this process (``None`` when the thread count was fixed)."""
    return _GOVERNOR


def set_threads(n: int | None = None) -> int:
    """Set torch's intra-op threads and return the number used. ``None`` applies :func:`thread_policy` (which
    honours ``$FACEKIT_THREADS``) and, unless that fixes the count, keeps following the load
    (:class:`ThreadGovernor`); a number fixes the count."""
    global _GOVERNOR
    policy = thread_policy() if n is None else None
    torch.set_num_threads(max(1, int(n if n is not None else policy.threads)))
    adaptive = policy is not None and policy.adaptive and _cpu_seconds() is not None
    _GOVERNOR = ThreadGovernor(cores=usable_cores()) if adaptive else None
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
    quick: bool = False
    sizes: SimpleNamespace = field(default_factory=SimpleNamespace)

    def __str__(self) -> str:
        return (f"{self.name}: device={self.device.type}, threads={self.threads}, seed={self.seed}, "
                f"figures -> {self.out_dir}, checkpoints -> {self.ckpt_dir}")


_CONTEXT: NotebookContext | None = None


_BOOL_WORDS = {"true", "false", "yes", "no", "on", "off"}


def _check_parameters(namespace: dict) -> None:
    """Refuse an UPPER_CASE notebook parameter that holds a yes/no word as text: ``papermill -p QUICK false``
    passes the string ``'false'`` (only ``True``/``False`` become booleans), which Python reads as true, so the
    full notebook would run where a quick one was asked for."""
    bad = {k: v for k, v in namespace.items()
           if k.isupper() and isinstance(v, str) and v.strip().lower() in _BOOL_WORDS}
    if bad:
        name, value = next(iter(bad.items()))
        meant = value.strip().lower() in ("true", "yes", "on")
        raise ValueError(f"Parameter {name} = {value!r} is text, not a boolean (papermill's -p turns only True and "
                         f"False into booleans, and any non-empty text counts as true). Pass -p {name} {meant} "
                         f"(capitalised), or -y '{name}: {str(meant).lower()}'.")


def setup(notebook: str, seed: int = 0, out_dir: str | os.PathLike | None = None,
          ckpt_dir: str | os.PathLike | None = None, device: str | None = None, *, quick: bool = False,
          **sizes) -> NotebookContext:
    """The call every notebook's set-up cell makes.

    Seeds everything, picks the device, and routes :func:`facekit.save_fig` / ``save_table`` / ``save_metrics`` to
    ``out_dir`` (default ``figures/<notebook-stem>/``) and trained checkpoints to ``ckpt_dir``
    (default :func:`facekit.paths.checkpoint_dir`). ``sizes`` are the full run's sizes (``epochs=EPOCHS``);
    ``ctx.sizes`` holds the ones to use, the QUICK run's from :data:`facekit.quick.QUICK_SIZES` when ``quick``.
    """

    global _CONTEXT
    _check_parameters(sys._getframe(1).f_globals)  # the notebook's parameters, before any work
    seed_everything(seed)
    out = Path(out_dir) if out_dir else paths.figures_dir(notebook)
    ckpt = Path(ckpt_dir) if ckpt_dir else paths.checkpoint_dir()
    out.mkdir(parents=True, exist_ok=True)
    ckpt.mkdir(parents=True, exist_ok=True)
    used = quick_sizes(Path(notebook).stem, quick, sizes)
    _CONTEXT = NotebookContext(Path(notebook).stem, out.resolve(), ckpt.resolve(), pick_device(device), seed,
                               set_threads(), quick, used)
    return _CONTEXT


def current_context() -> NotebookContext | None:
    """The context of the last :func:`setup` call in this process, or ``None``."""
    return _CONTEXT
