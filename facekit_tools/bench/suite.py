"""What ``facekit bench`` measures, in which order and at which sizes, and the table it turns the numbers into.

:func:`run_bench` runs every probe of :mod:`facekit_tools.bench.probes` (each in a fresh process unless ``isolate=False``),
builds one table (one row per measurement, ratio or target; columns :data:`COLUMNS`), a scaling table (training
time per epoch vs data size and threads) and a plot, and writes them atomically:
``<out>/bench.csv``, ``<out>/bench.json``, ``<out>/bench_scaling.csv``, ``<out>/bench.md`` and
``<fig_dir>/bench_scaling.png``.

Training throughput is measured over a fixed number of steps after a warm-up and extrapolated to whole epochs
(``how`` says so in every such row); ``full_epochs=True`` times real epochs in the scaling runs instead.
"""
from __future__ import annotations

import datetime as _dt
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from facekit_tools.bench.probes import FER_EVAL_SIZE, FER_TRAIN_SIZE, run_probe
from facekit import paths
from facekit.io import atomic_write_text
from facekit.io import save_fig
from facekit.io import save_metrics
from facekit.io import save_table
from facekit.runtime import pick_device
from facekit_tools.bench.load import POLICIES
from facekit_tools.bench.load import measure_policies

#: Columns of the benchmark table.
COLUMNS = ("group", "measure", "value", "unit", "peak_rss_mb", "threads", "cpu_use", "how", "target", "met")
"""``cpu_use``: CPU time / (wall time x threads) while timed; near 1 = it had its cores, well below 1 = the machine
was busy with other work (or the threads idled), so the rate understates what an idle machine gives."""

#: The issue's targets: key -> (comparison, threshold, unit).
BENCH_TARGETS: dict[str, tuple[str, float, str]] = {
    "render_48": (">=", 5000.0, "faces/s"),
    "trainer_vs_ceiling": (">=", 0.85, "x"),
    "trainer_vs_naive": (">=", 2.0, "x"),
    "epochs_20": ("<", 600.0, "s"),
    "workbook": ("<", 1800.0, "s"),
    "test_suite": ("<", 600.0, "s"),
    "policy_idle": (">=", 0.9, "x"),
    "policy_load": (">=", 2.0, "x"),
}


@dataclass
class BenchPlan:
    """Sizes of every measurement. The defaults keep ``facekit bench`` to a few minutes on 2 idle cores."""
    batch_size: int = 128                  # Task 1 batch (trainer, ceiling and naive baseline alike)
    steps: int = 40                        # timed Task 1 steps (trainer, ceiling)
    warmup: int = 3                        # untimed steps before each training measurement
    naive_steps: int = 15                  # timed steps of the naive baseline (it is slow)
    naive_workers: tuple[int, ...] = (0, 2)  # DataLoader num_workers settings of the naive baseline
    render_n: dict = field(default_factory=lambda: {48: 4000, 128: 400})  # faces rendered per size
    inference_n: int = 4096                # faces through predict()
    gradcam_n: int = 64                    # faces through guided Grad-CAM
    fau_batch: int = 32                    # FAU pretraining batch (train_fau's default)
    fau_steps: int = 8                     # timed FAU pretraining steps
    fewshot_epochs: int = 5                # few-shot tuning epochs (tune_fewshot's default)
    demo_subjects: int = 5                 # subjects of the demo latency
    scale_fractions: tuple[float, ...] = (0.25, 0.5, 1.0)  # data sizes, as fractions of FER2013 Training
    scale_threads: tuple[int, ...] = (1, 2)  # torch intra-op threads of the scaling runs
    scale_steps: int | None = 25           # timed steps per scaling run (None: one whole epoch)
    epochs: int = 20                       # the Task 1 recipe's epochs (for the 20-epoch estimate)
    threads: int | None = None             # threads of the non-scaling probes (None: torch's default, all cores)
    load_busy: tuple[int, ...] = (0, 1, 2)  # competing busy processes of the thread-policy rows (): skip them
    load_steps: int = 20                   # timed trainer steps per thread-policy measurement
    load_render_n: int = 2000              # faces rendered per thread-policy measurement

    @classmethod
    def quick(cls) -> "BenchPlan":
        """Tiny sizes, one thread: every probe runs, the numbers mean nothing (what the tests use). One thread
        because two OpenMP threads on two cores shared with other jobs run 5-20x slower than one."""
        return cls(batch_size=16, steps=2, warmup=1, naive_steps=2, naive_workers=(0,), render_n={48: 16, 128: 4},
                   inference_n=64, gradcam_n=2, fau_batch=2, fau_steps=1, fewshot_epochs=1, demo_subjects=1,
                   scale_threads=(1,), scale_steps=2, threads=1, load_busy=(), load_steps=2, load_render_n=16)


@dataclass
class BenchResult:
    table: pd.DataFrame
    scaling: pd.DataFrame
    machine: dict
    plan: BenchPlan
    files: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"machine": self.machine, "plan": asdict(self.plan), "rows": self.table.to_dict("records"),
                "scaling": self.scaling.to_dict("records"), "targets": targets_summary(self.table)}


# ------------------------------------------------------------------------------------------------ the machine
def describe_machine(device: torch.device | str) -> dict:
    """CPU model, cores, memory, torch version, device and load: what the table was measured on."""
    device = torch.device(device)
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    try:
        ram_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        ram_gib = float("nan")
    info = {"cpu": cpu, "logical_cpus": os.cpu_count(), "usable_cpus": usable, "ram_gib": round(ram_gib, 1),
            "platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "device": str(device), "default_threads": torch.get_num_threads(),
            "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "load_avg_start": _load()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _load() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):
        return None


# ---------------------------------------------------------------------------------------------------- targets
def check_target(key: str, value: float) -> tuple[str, str]:
    """(``">= 5000 faces/s"``, ``"yes"``/``"no"``/``"n/a"``) for target ``key`` and a measured value."""
    op, threshold, unit = BENCH_TARGETS[key]
    text = f"{op} {threshold:g} {unit}"
    if value is None or not math.isfinite(value):
        return text, "n/a"
    ok = value >= threshold if op == ">=" else value < threshold
    return text, "yes" if ok else "no"


def targets_summary(table: pd.DataFrame) -> dict:
    """{measure: {"value", "target", "met"}} for every row that carries a target."""
    rows = table[table["target"] != ""]
    return {r.measure: {"value": r.value, "target": r.target, "met": r.met} for r in rows.itertuples()}


# ----------------------------------------------------------------------------------------------------- running
def _rate(res: dict) -> float:
    if "error" in res or not res.get("seconds"):
        return float("nan")
    return res["items"] / res["seconds"]


def _measurements(plan: BenchPlan, threads: int) -> list[tuple[str, str, int, dict]]:
    """(key, probe, threads, kwargs) of every measurement, in the order they run."""
    b, w = plan.batch_size, plan.warmup
    jobs = [("idle", "idle", threads, {})]
    jobs += [(f"render_{s}", "render", threads, {"n": n, "size": s}) for s, n in plan.render_n.items()]
    jobs += [("trainer", "trainer", threads, {"steps": plan.steps, "batch_size": b, "warmup": w}),
             ("ceiling", "ceiling", threads, {"steps": plan.steps, "batch_size": b, "warmup": w}),
             ("ceiling_nchw", "ceiling", threads,
              {"steps": plan.steps, "batch_size": b, "warmup": w, "channels_last": False})]
    jobs += [(f"naive_{k}", "naive", threads, {"steps": plan.naive_steps, "batch_size": b, "warmup": w,
                                               "num_workers": k}) for k in plan.naive_workers]
    jobs += [("inference_eval", "inference", threads, {"n": plan.inference_n, "channels_last": True}),
             ("inference", "inference", threads, {"n": plan.inference_n}),
             ("gradcam", "guided_gradcam", threads, {"n": plan.gradcam_n}),
             ("fau_pretrain", "fau_pretrain", threads, {"steps": plan.fau_steps, "batch_size": plan.fau_batch}),
             ("fau_fewshot", "fau_fewshot", threads, {"epochs": plan.fewshot_epochs}),
             ("fau_demo", "fau_demo", threads, {"subjects": plan.demo_subjects})]
    for frac in plan.scale_fractions:
        n = max(b, round(frac * FER_TRAIN_SIZE))
        for t in plan.scale_threads:
            jobs.append((f"scale_{frac:g}_{t}", "trainer", t,
                         {"steps": plan.scale_steps, "batch_size": b, "warmup": w, "n_train": n}))
    return jobs


def _time_command(cmd: list[str], what: str) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()
        return {"error": f"{what} failed (exit {proc.returncode}) after {seconds:.0f} s: "
                         f"{tail[-1] if tail else ''}"[:300], "seconds": seconds}
    return {"items": 1, "seconds": seconds}


def run_bench(plan: BenchPlan | None = None, *, quick: bool = False, device: str | None = None,
              isolate: bool = True, out_dir: str | os.PathLike | None = None,
              fig_dir: str | os.PathLike | None = None, workbook: bool = False, tests: bool = False,
              progress: bool = True, timeout: float | None = 900) -> BenchResult:
    """Measure everything, build the tables and the plot, write them (see the module docstring); return them.

    ``workbook`` / ``tests`` also time ``facekit run`` (the full workbook) and ``pytest`` (the QUICK suite); both
    take many minutes, so they are off by default and their rows then say "not measured".
    """

    plan = plan or (BenchPlan.quick() if quick else BenchPlan())
    device = pick_device(device)
    threads = plan.threads or torch.get_num_threads()
    machine = describe_machine(device)
    results: dict[str, dict] = {}
    jobs = _measurements(plan, threads)
    bar = tqdm(jobs, desc="bench", unit="probe", disable=not progress)
    for key, name, t, kwargs in bar:
        bar.set_postfix_str(key)
        results[key] = run_probe(name, threads=t, device=str(device), isolate=isolate, timeout=timeout, **kwargs)
    if plan.load_busy and isolate:  # policies are environment variables: they need fresh processes

        results.update(measure_policies(plan.load_busy, trainer_steps=plan.load_steps, batch_size=plan.batch_size,
                                        render_n=plan.load_render_n, device=str(device), timeout=timeout))
    if workbook:
        results["workbook"] = _time_command([sys.executable, "-m", "facekit", "run"], "facekit run")
    if tests:
        results["test_suite"] = _time_command([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                               str(paths.repo_root() / "tests")], "pytest")
    machine["load_avg_end"] = _load()
    table = build_table(results, plan, isolate)
    scaling = build_scaling(results, plan)
    result = BenchResult(table, scaling, machine, plan)
    result.files = write_outputs(result, out_dir, fig_dir, quick=quick or plan == BenchPlan.quick())
    return result


# ------------------------------------------------------------------------------------------------------ tables
def _task1_rows(add, r: dict, plan: BenchPlan) -> None:
    """Task 1's rows: the trainer beside the raw ceiling and the naive starter kit, evaluation, epoch estimates."""
    b, steps = plan.batch_size, plan.steps
    trainer, ceiling = _rate(r["trainer"]), _rate(r["ceiling"])
    fmt = "channels_last" if r["trainer"].get("channels_last") else "NCHW"
    timed = f"{steps} steps x {b} after {plan.warmup} warm-up"
    add("task1", f"facekit trainer (in-memory uint8, batched crop/flip, {fmt})", trainer, "img/s", r["trainer"],
        f"Trainer.train_epoch, {timed}")
    add("task1", f"raw forward+backward ceiling ({fmt})", ceiling, "img/s", r["ceiling"],
        f"same model + SGD on one random batch, {timed}")
    add("task1", "raw forward+backward ceiling (NCHW)", _rate(r["ceiling_nchw"]), "img/s", r["ceiling_nchw"],
        f"as above in NCHW, {timed}")
    naive_rates = {}
    for k in plan.naive_workers:
        naive_rates[k] = _rate(r[f"naive_{k}"])
        add("task1", f"naive starter kit (DataLoader, PIL transforms, NCHW, workers={k})", naive_rates[k], "img/s",
            r[f"naive_{k}"], f"{plan.naive_steps} steps x {b} after {plan.warmup} warm-up"
                             + ("; peak_rss is the main process only" if k else ""))
    add("task1", f"trainer / raw ceiling ({fmt})", trainer / ceiling, "x", None,
        "ratio of the two rows above", "trainer_vs_ceiling")
    finite = {k: v for k, v in naive_rates.items() if math.isfinite(v)}
    best = max(finite, key=finite.get) if finite else plan.naive_workers[0]
    add("task1", "trainer / naive baseline", trainer / naive_rates[best], "x", None,
        f"against the faster naive setting (workers={best})", "trainer_vs_naive")
    eval_rate = _rate(r["inference_eval"])
    add("task1", f"evaluation (predict, {fmt}, batch 512)", eval_rate, "img/s", r["inference_eval"],
        f"{plan.inference_n} faces, the per-epoch PublicTest+PrivateTest pass")
    epoch_s = FER_TRAIN_SIZE / trainer + FER_EVAL_SIZE / eval_rate
    add("task1", "one epoch (28,709 train + 7,178 eval faces)", epoch_s, "s", None,
        "extrapolated from the trainer and evaluation rates")
    add("task1", f"{plan.epochs} epochs", plan.epochs * epoch_s, "s", None,
        f"{plan.epochs} x the epoch estimate", "epochs_20")


def _fau_rows(add, r: dict, plan: BenchPlan, device_type: str) -> None:
    """Task 2's rows: pretraining, few-shot tuning, demo latency."""
    add("fau", f"pretraining (train_fau, batch {plan.fau_batch}, 128x128)", _rate(r["fau_pretrain"]), "img/s",
        r["fau_pretrain"], f"{plan.fau_steps} steps after a warm-up, augmentation + heatmap targets included")
    few = r["fau_fewshot"]
    add("fau", "few-shot tuning (tune_fewshot, batch 4, lr 1e-4)", _rate(few), "img/s", few,
        f"{plan.fewshot_epochs} epochs on {few.get('faces', 'faces')}; training epochs timed"
        + ("; on the CPU (tune_fewshot has no device argument)" if device_type != "cpu" else ""))
    demo = r["fau_demo"]
    per_subject = 1000 / _rate(demo) if _rate(demo) else float("nan")
    model_ms = 1000 * demo.get("model_seconds", float("nan")) / max(demo.get("items", 1), 1)
    add("fau", "demo latency per subject", per_subject, "ms", demo,
        f"predict_results + subject_figure + PNG, one subject at a time (model alone {model_ms:.0f} ms)"
        + ("; on the CPU" if device_type != "cpu" else ""))


def _scaling_rows(add, r: dict, plan: BenchPlan) -> None:
    """How a training epoch scales with data size and threads."""
    for frac in plan.scale_fractions:
        for t in plan.scale_threads:
            res = r[f"scale_{frac:g}_{t}"]
            n = res.get("n_train", round(frac * FER_TRAIN_SIZE))
            rate = _rate(res)
            how = (f"{rate:.0f} img/s over one whole epoch" if plan.scale_steps is None
                   else f"{rate:.0f} img/s over {plan.scale_steps} steps, extrapolated to {n} faces")
            add("scaling", f"training epoch at {frac:g}x FER2013 ({n} faces), {t} thread{'s' * (t > 1)}",
                n / rate, "s", res, how)


def _workbook_rows(add, r: dict) -> None:
    """The wall times of a whole workbook run and of the test suite (when measured)."""
    for key, label, command in (("workbook", "make workbook (all notebooks, full parameters)", "--workbook"),
                                ("test_suite", "QUICK test suite (make test)", "--tests")):
        res = r.get(key)
        if res is None:
            add("workbook", label, float("nan"), "s", None, f"not measured (facekit bench {command})", key)
        else:
            add("workbook", label, res.get("seconds", float("nan")), "s", res, "wall time of one run", key)


def build_table(results: dict[str, dict], plan: BenchPlan, isolate: bool = True) -> pd.DataFrame:
    """The benchmark table (:data:`COLUMNS`) from the probes' raw results; ratios and estimates are computed here
    from the measured rates, never measured separately."""
    rows: list[dict] = []
    device_type = torch.device(results.get("trainer", {}).get("device", "cpu")).type

    def add(group, measure, value, unit, res=None, how="", target_key=None):
        res = res or {}
        if "error" in res:
            how = f"FAILED: {res['error']}"
            value = float("nan")
        target, met = check_target(target_key, value) if target_key else ("", "")
        rows.append({"group": group, "measure": measure, "value": value, "unit": unit,
                     "peak_rss_mb": res.get("peak_rss_mb", float("nan")), "threads": res.get("threads", pd.NA),
                     "cpu_use": res.get("cpu_use", float("nan")), "how": how, "target": target, "met": met})

    r = results
    add("setup", "python + torch + facekit imported (memory baseline)", float("nan"), "", r.get("idle"),
        "fresh process, nothing run" if isolate else "in-process: memory is this process's peak")
    for size, n in plan.render_n.items():
        res = r.get(f"render_{size}", {})
        per_cpu = res.get("items", 0) / res["cpu_seconds"] if res.get("cpu_seconds") else float("nan")
        add("render", f"synthetic faces {size}x{size}", _rate(res), "faces/s", res,
            f"render_faces({n}, domain='lab') after a warm-up; chunks rendered side by side, one per thread; "
            f"{per_cpu:,.0f} faces per CPU-second", "render_48" if size == 48 else None)

    _task1_rows(add, r, plan)
    add("explain", "inference (predict, NCHW as loaded, batch 512)", _rate(r["inference"]), "img/s",
        r["inference"], f"{plan.inference_n} faces")
    add("explain", "guided Grad-CAM (predict + Grad-CAM + guided backprop)", _rate(r["gradcam"]), "img/s",
        r["gradcam"], f"explain.guided_gradcam on {plan.gradcam_n} faces in batches of 16")

    _fau_rows(add, r, plan, device_type)
    _scaling_rows(add, r, plan)
    _workbook_rows(add, r)
    load_rows(results, plan, add)
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    table["threads"] = table["threads"].astype("Int64")
    return table


def load_rows(results: dict[str, dict], plan: BenchPlan, add) -> None:
    """The thread-policy rows (group ``threads``): trainer and renderer rates per policy and number of competing
    busy processes, then the ratios of facekit's default to the old one, measured in the same run."""

    if not plan.load_busy:
        add("threads", "thread policies under load", float("nan"), "", None, "not measured (plan.load_busy is empty)")
        return
    def loads(probe):
        return [*plan.load_busy, *(["late"] if probe == "trainer" else [])]

    def what(b):
        return ("1 busy process starting after the warm-up" if b == "late"
                else f"{b} busy process{'es' * (b != 1)}")

    for probe, unit in (("trainer", "img/s"), ("render", "faces/s")):
        for b in loads(probe):
            for policy, label in POLICIES.items():
                res = results.get(f"load_{probe}_{policy}_{b}")
                if res is None:
                    continue
                steps = plan.load_steps * (3 if b == "late" else 1)
                size = f"{steps} steps x {plan.batch_size}" if probe == "trainer" else \
                    f"{plan.load_render_n} faces 48x48"
                changes = "".join(f"; {t} threads at {s:g} s (others {o:g} cores)"
                                  for s, o, t in res.get("thread_changes") or [])
                add("threads", f"{probe}, {label}, {what(b)}", _rate(res), unit, res,
                    f"{size}; 1-min load average {res.get('load_avg_1min')} at start{changes}")

    def ratio(probe, busy):
        new, old = (results.get(f"load_{probe}_{p}_{busy}", {}) for p in ("facekit", "old"))
        return _rate(new) / _rate(old) if new and old else float("nan")

    for probe in ("trainer", "render"):
        for b in loads(probe):
            if b == "late" and "load_trainer_old_late" not in results:
                continue
            target = {("trainer", 0): "policy_idle", ("trainer", 1): "policy_load"}.get((probe, b))
            add("threads", f"{probe}: facekit default / old default, {what(b) if b == 'late' else f'{b} busy'}",
                ratio(probe, b), "x", None, "ratio of the two rows above, same run", target)


def build_scaling(results: dict[str, dict], plan: BenchPlan) -> pd.DataFrame:
    """One row per (data fraction, threads): faces, img/s, seconds per epoch, peak memory."""
    rows = []
    for frac in plan.scale_fractions:
        for t in plan.scale_threads:
            res = results.get(f"scale_{frac:g}_{t}", {})
            n = res.get("n_train", round(frac * FER_TRAIN_SIZE))
            rate = _rate(res)
            rows.append({"fraction": frac, "faces": n, "threads": t, "img_per_s": rate, "epoch_seconds": n / rate,
                         "peak_rss_mb": res.get("peak_rss_mb", float("nan")),
                         "cpu_use": res.get("cpu_use", float("nan")),
                         "timed": "one epoch" if plan.scale_steps is None else f"{plan.scale_steps} steps"})
    return pd.DataFrame(rows)


def plot_scaling(scaling: pd.DataFrame, machine: dict | None = None):
    """Two panels: training throughput and seconds per epoch vs data size, one line per thread count."""
    import matplotlib  # lazy: plotting only; the CLI and training paths never load matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: plotting only; the CLI and training paths never load matplotlib

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for t, part in scaling.groupby("threads"):
        label = f"{t} thread{'s' * (t > 1)}"
        axes[0].plot(part["faces"], part["img_per_s"], "o-", label=label)
        axes[1].plot(part["faces"], part["epoch_seconds"], "o-", label=label)
        if "cpu_use" in part:  # below ~0.9 the point was slowed by other work on the machine
            for x, y, use in zip(part["faces"], part["img_per_s"], part["cpu_use"]):
                if math.isfinite(use):
                    axes[0].annotate(f"cpu {use:.2f}", (x, y), textcoords="offset points", xytext=(0, 6),
                                     ha="center", fontsize=7)
    axes[0].set(xlabel="training faces (fraction of FER2013 Training)", ylabel="images / s",
                title="Task 1 trainer throughput")
    axes[1].set(xlabel="training faces (fraction of FER2013 Training)", ylabel="seconds per epoch",
                title="time per training epoch")
    axes[0].set_ylim(bottom=0)
    axes[1].set_ylim(bottom=0)
    sizes = scaling.drop_duplicates("faces")
    for ax in axes:
        ax.set_xticks(sizes["faces"], [f"{f:g}x\n{n:,}" for f, n in zip(sizes["fraction"], sizes["faces"])])
        ax.set_xlim(0, sizes["faces"].max() * 1.08)
        ax.grid(alpha=0.3)
        ax.legend()
    if machine:
        fig.suptitle(f"{machine.get('cpu', '')}, {machine.get('usable_cpus', '?')} cores, device "
                     f"{machine.get('device', '?')}, 1-min load {(machine.get('load_avg_start') or ['?'])[0]} at start, "
                     f"{(machine.get('load_avg_end') or ['?'])[0]} at end; timed: {scaling['timed'].iloc[0]} per point; "
                     "cpu = CPU time / (wall x threads)", fontsize=8)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------------- output
def format_table(table: pd.DataFrame) -> pd.DataFrame:
    """The table with rounded, readable numbers (for printing and Markdown)."""
    out = table.copy()

    def num(v):
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            return "-"
        return f"{v:.2f}" if abs(v) < 10 else f"{v:,.0f}"

    out["value"] = [num(v) for v in out["value"]]
    out["peak_rss_mb"] = [num(v) for v in out["peak_rss_mb"]]
    out["cpu_use"] = ["-" if not math.isfinite(v) else f"{v:.2f}" for v in out["cpu_use"]]
    out["threads"] = [("" if pd.isna(v) else str(v)) for v in out["threads"]]
    return out


def markdown_report(result: BenchResult) -> str:
    """The "What it costs" section: machine, table, scaling (GitHub Markdown)."""
    m = result.machine
    table = format_table(result.table)
    lines = ["## What it costs", "",
             f"Measured with `facekit bench` on {m['date_utc']}: {m['cpu']}, {m['usable_cpus']} usable cores "
             f"({m['logical_cpus']} logical), {m['ram_gib']} GiB RAM, {m['platform']}, Python {m['python']}, "
             f"torch {m['torch']}, device **{m['device']}**"
             + (f" ({m['gpu']})" if "gpu" in m else "") + f"; load average at start {m['load_avg_start']}, "
             f"at end {m.get('load_avg_end')}.", "",
             "| " + " | ".join(["group", "measure", "value", "unit", "peak RSS MiB", "threads", "CPU use", "target",
                                "met", "how"]) + " |",
             "|" + "---|" * 10]
    for row in table.itertuples():
        lines.append("| " + " | ".join(str(v).replace("|", "/") for v in (
            row.group, row.measure, row.value, row.unit, row.peak_rss_mb, row.threads, row.cpu_use, row.target,
            row.met, row.how)) + " |")
    return "\n".join(lines) + "\n"


def write_outputs(result: BenchResult, out_dir=None, fig_dir=None, quick: bool = False) -> dict:
    """bench.csv, bench.json, bench_scaling.csv, bench.md in ``out_dir`` and bench_scaling.png in ``fig_dir``
    (defaults: ``build/bench`` and ``figures/bench``; ``build/bench/quick`` for both in quick mode), atomically."""
    import matplotlib.pyplot as plt  # lazy: plotting only; the CLI and training paths never load matplotlib


    default = paths.build_dir("bench", "quick") if quick else paths.build_dir("bench")
    out = Path(out_dir) if out_dir else Path(default)
    figs = Path(fig_dir) if fig_dir else (out if (quick or out_dir) else paths.repo_root() / "figures" / "bench")
    files = {"csv": save_table(result.table, "bench", out_dir=out, index=False),
             "scaling_csv": save_table(result.scaling, "bench_scaling", out_dir=out, index=False),
             "json": save_metrics(result.to_json(), "bench", out_dir=out),
             "markdown": atomic_write_text(out / "bench.md", markdown_report(result))}
    fig = plot_scaling(result.scaling, result.machine)
    try:
        files["figure"] = save_fig(fig, "bench_scaling", out_dir=figs)
    finally:
        plt.close(fig)
    return files


def print_report(result: BenchResult, file=None) -> None:
    """Machine line, then the table (pandas ``to_string``), then where the files went."""
    m = result.machine
    file = file or sys.stdout
    print(f"device: {m['device']}" + (f" ({m['gpu']})" if "gpu" in m else "") +
          f" | {m['cpu']}, {m['usable_cpus']} usable cores, {m['ram_gib']} GiB | torch {m['torch']} | "
          f"load {m['load_avg_start']} -> {m.get('load_avg_end')}", file=file)
    with pd.option_context("display.width", 250, "display.max_colwidth", 80):
        print(format_table(result.table).to_string(index=False), file=file)
    for name, path in result.files.items():
        print(f"{name}: {path}", file=file)
