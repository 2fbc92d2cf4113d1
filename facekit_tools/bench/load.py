"""Thread policies under load: the Task 1 trainer and the renderer with 0, 1, 2 competing busy processes.

Each policy is a set of environment variables given to a fresh child process (OpenMP reads them when torch starts
its threads, so they cannot be changed later in the same process):

* ``old``: the previous default, all usable cores with OpenMP's default (spinning) wait policy;
* ``passive``: all cores, ``OMP_WAIT_POLICY=PASSIVE``;
* ``one``: one thread, default wait policy;
* ``facekit``: what the workbook does now: :func:`~facekit.runtime.set_threads` decided inside the child after the
  busy processes started, as a notebook's set-up cell decides, and then followed by the
  :class:`~facekit.runtime.ThreadGovernor` while it trains (OpenMP's default wait policy).

Besides 0, 1 and 2 busy processes present from the start, the ``late`` rows start one busy process right after the
trainer's warm-up, as a browser or another job does in the middle of training: a thread count chosen once at
start cannot react to that; the governor must.

The busy processes are plain ``while True: pass`` loops started by :func:`facekit_tools.bench.probes.busy_processes` and
stopped by their own process handles afterwards. Ratios are taken between rows of the same run, so slow or shared machines still compare fairly.
"""
from __future__ import annotations

import os

from facekit_tools.bench.probes import busy_processes, run_probe
from facekit.runtime import THREADS_ENV, usable_cores

#: policy key -> label used in the table.
POLICIES: dict[str, str] = {
    "old": "old default (all cores, spin-wait)",
    "passive": "all cores, OMP_WAIT_POLICY=PASSIVE",
    "one": "1 thread",
    "facekit": "facekit default (one thread per free core, re-checked every second)",
}


def policy_env(policy: str, cores: int | None = None) -> tuple[dict[str, str | None], int | None, bool]:
    """(environment changes, threads for the child, whether the child applies facekit's own policy) of ``policy``;
    a ``None`` value removes the variable."""
    cores = cores or usable_cores()
    if policy == "old":
        return {"OMP_WAIT_POLICY": None, THREADS_ENV: str(cores)}, cores, False
    if policy == "passive":
        return {"OMP_WAIT_POLICY": "PASSIVE", THREADS_ENV: str(cores)}, cores, False
    if policy == "one":
        return {"OMP_WAIT_POLICY": None, THREADS_ENV: "1"}, 1, False
    if policy == "facekit":
        return {"OMP_WAIT_POLICY": None, THREADS_ENV: None, "OMP_NUM_THREADS": None}, None, True
    raise KeyError(f"Unknown thread policy {policy!r}; known: {', '.join(POLICIES)}")


def measure_policies(busy: tuple[int, ...] = (0, 1, 2), policies: tuple[str, ...] = tuple(POLICIES),
                     trainer_steps: int = 20, batch_size: int = 128, render_n: int = 2000, device: str = "cpu",
                     timeout: float | None = 600, progress=None, probes: tuple[str, ...] = ("trainer", "render"),
                     report=None, late: bool = True) -> dict[str, dict]:
    """Trainer and renderer results keyed ``load_<probe>_<policy>_<busy>`` (``probe`` = trainer or render; with
    ``late``, also ``load_trainer_<policy>_late``: one busy process started after the warm-up, timed over three times
    the steps so the reaction time counts); each result also records ``busy`` and the 1-minute load average when it
    started. ``report(key, result)`` is called after each measurement."""
    results: dict[str, dict] = {}
    jobs = [(b, p, probe) for b in busy for probe in probes for p in policies]
    if late and "trainer" in probes:
        jobs += [("late", p, "trainer") for p in policies]
    for b, p, probe in (progress(jobs) if progress else jobs):
        env, threads, auto = policy_env(p)
        kwargs = ({"steps": trainer_steps, "batch_size": batch_size, "warmup": 3} if probe == "trainer"
                  else {"n": render_n, "size": 48})
        if b == "late":
            kwargs.update(steps=3 * trainer_steps, late_busy=1)
        with busy_processes(0 if b == "late" else b):
            load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
            res = run_probe(probe, threads=threads, device=device, isolate=True, timeout=timeout, env=env,
                            auto_threads=auto, **kwargs)
        key = f"load_{probe}_{p}_{b}"
        results[key] = {**res, "busy": b, "load_avg_1min": round(load, 2)}
        if report:
            report(key, results[key])
    return results
