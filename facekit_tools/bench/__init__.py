"""``facekit bench``: what the workbook costs on this machine, measured side by side in one run.

Rendering rate, Task 1 training throughput (the facekit trainer next to the raw forward+backward ceiling and the
naive starter-kit baseline, as ratios), inference and guided Grad-CAM rates, FAU pretraining / few-shot tuning / demo
latency, how a training epoch scales with data size and threads, and thread policies under 0/1/2 competing
busy processes (:mod:`facekit_tools.bench.load`); each issue target is a row with its value,
target and whether it is met. Timings are reported, never asserted (no test fails on a slow machine).

``python -m facekit bench`` (or ``make bench``); ``--quick`` for tiny sizes. The Python API is
:func:`run_bench` -> :class:`BenchResult`.
"""
from __future__ import annotations

import argparse

from facekit_tools.bench.suite import COLUMNS, BENCH_TARGETS, BenchPlan, BenchResult, print_report, run_bench
from facekit.throughput import conv_throughput, plot_throughput

__all__ = ["COLUMNS", "BENCH_TARGETS", "BenchPlan", "BenchResult", "conv_throughput", "plot_throughput", "print_report",
           "add_command", "run_bench"]


def _cmd_bench(args: argparse.Namespace) -> int:
    plan = BenchPlan.quick() if args.quick else BenchPlan()
    if args.steps:
        plan.steps = plan.scale_steps = args.steps
        plan.naive_steps = max(2, args.steps // 3)
    if args.full_epochs:
        plan.scale_steps = None
    if args.no_load:
        plan.load_busy = ()
    try:
        result = run_bench(plan, quick=args.quick, device=args.device, isolate=not args.no_isolate,
                           out_dir=args.out, fig_dir=args.fig_dir, workbook=args.workbook, tests=args.tests)
    except RuntimeError as exc:  # e.g. --device cuda on a machine without a GPU
        print(f"facekit bench: {exc}")
        return 2
    print_report(result)
    return 0


def add_command(subparsers) -> None:
    """Add the ``bench`` command to the ``facekit`` CLI."""
    p = subparsers.add_parser("bench", help="measure what the workbook costs here: table + CSV/JSON + scaling plot")
    p.add_argument("--quick", action="store_true", help="tiny sizes (seconds; numbers meaningless, for tests)")
    p.add_argument("--out", metavar="DIR", help="write bench.csv/.json/.md (and the plot) to DIR "
                                                "(default build/bench; plot to figures/bench)")
    p.add_argument("--fig-dir", metavar="DIR", help="write bench_scaling.png to DIR")
    p.add_argument("--device", help="cpu, cuda, mps (default: CUDA when present, else CPU)")
    p.add_argument("--no-isolate", action="store_true",
                   help="run every probe in this process (faster; peak memory is then cumulative)")
    p.add_argument("--steps", type=int, metavar="N",
                   help="timed Task 1 steps per measurement (default 40; scaling 25; naive baseline N/3)")
    p.add_argument("--full-epochs", action="store_true",
                   help="time whole epochs in the scaling runs instead of a fixed number of steps (slower)")
    p.add_argument("--no-load", action="store_true",
                   help="skip the thread-policy rows (trainer and renderer with 0/1/2 competing busy processes)")
    p.add_argument("--workbook", action="store_true", help="also time the full workbook (`facekit run`, ~30 min)")
    p.add_argument("--tests", action="store_true", help="also time the QUICK test suite (`pytest`, ~10 min)")
    p.set_defaults(func=_cmd_bench)
