"""The ``facekit`` command: ``run`` (notebooks through papermill), ``doctor`` and the commands other modules add.

Each module that adds a command exposes ``register(subparsers)``, which adds a sub-parser whose ``func`` default
takes the parsed arguments and returns an exit status; it is listed in ``_COMMAND_MODULES``.
"""
from __future__ import annotations

import argparse
import importlib
import sys

_COMMAND_MODULES: tuple[str, ...] = ("facekit.synth.cli", "facekit.emotion.cli", "facekit.fau.cli", "facekit.bench",
                                     "facekit.handin.cli", "facekit.edition", "facekit.edition_fingerprints", "facekit.grading",
                                     "facekit.emotion.realism")


# -- argument checks shared by the commands: a bad value fails at once, before any data is loaded or rendered -------

def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (``inf``, ``nan``, 0 and negatives refused)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text}")
    return value


def bounded(kind, low, high, unit: str = ""):
    """argparse type: ``kind(text)`` (e.g. :func:`positive_float`) that must also lie in ``low..high``."""
    def check(text: str):
        value = kind(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must lie in {low:g}..{high:g}{unit}, got {text}")
        return value
    check.__name__ = kind.__name__
    return check


def _cmd_run(args: argparse.Namespace) -> int:
    from facekit.runner import NotebookFailed, run_notebooks

    try:
        runs = run_notebooks(args.notebooks, quick=args.quick, out=args.out, echo=not args.quiet)
    except NotebookFailed as exc:
        print(f"facekit run: {exc}", file=sys.stderr)
        return 1
    except FileNotFoundError as exc:
        print(f"facekit run: {exc}", file=sys.stderr)
        return 2
    total = sum(run.seconds for run in runs)
    print(f"facekit run: {len(runs)} notebook(s) executed in {total:.0f} s; executed copies in "
          f"{runs[0].executed.parent if runs else '-'}")
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    from facekit.doctor import report

    text, ok = report()
    print(text)
    return 0 if ok or not args.strict else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facekit", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="execute the numbered notebooks headless (papermill), in order")
    run.add_argument("notebooks", nargs="*", metavar="NOTEBOOK",
                     help="notebooks by stem, file or number prefix (default: all)")
    run.add_argument("--quick", action="store_true", help="QUICK=True: small data, one epoch (what the tests run)")
    run.add_argument("--out", metavar="DIR",
                     help="keep everything the run writes under DIR: figures in DIR/<notebook>/, checkpoints in "
                          "DIR/checkpoints/, executed notebooks in DIR/notebooks/ (default: figures/<notebook>/, "
                          "build/checkpoints/, build/notebooks/)")
    run.add_argument("--quiet", action="store_true",
                     help="one line per notebook only (default: also each cell as it starts and what it prints)")
    run.set_defaults(func=_cmd_run)

    doctor = sub.add_parser("doctor", help="versions, device, threads, and whether data and checkpoints are present")
    doctor.add_argument("--strict", action="store_true", help="exit 1 when something the notebooks need is missing")
    doctor.set_defaults(func=_cmd_doctor)

    for module in _COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
