"""The ``facekit`` command: ``run`` (notebooks through papermill), ``doctor`` and the commands other modules add.

Each module that adds a command exposes ``add_command(subparsers)``, which adds a sub-parser whose ``func`` default
takes the parsed arguments and returns an exit status; it is listed in ``_COMMAND_MODULES``.
"""
from __future__ import annotations

import argparse
import importlib
import sys

import facekit
from facekit.doctor import report
from facekit_tools.runner import NotebookFailed
from facekit_tools.runner import RunLocked
from facekit_tools.runner import RunWriteError
from facekit_tools.runner import parse_parameter
from facekit_tools.runner import run_notebooks
import errno
import signal
import threading

_COMMAND_MODULES: tuple[str, ...] = ("facekit.synth.cli", "facekit.emotion.cli", "facekit.fau.cli", "facekit.emotion.realism",
                                     "facekit.kit_formats", "facekit_tools.bench", "facekit_tools.handin.cli", "facekit_tools.edition",
                                     "facekit_tools.edition_fingerprints", "facekit_tools.grading")


def _cmd_run(args: argparse.Namespace) -> int:

    try:
        parameters = {name: parse_parameter(value) for name, value in args.parameter}
        runs = run_notebooks(args.notebooks, quick=args.quick, out=args.out, echo=not args.quiet,
                             parameters=parameters)
    except (NotebookFailed, RunLocked, RunWriteError) as exc:
        print(f"facekit run: {exc}", file=sys.stderr)
        return 1
    except (FileNotFoundError, ValueError) as exc:
        print(f"facekit run: {exc}", file=sys.stderr)
        return 2
    total = sum(run.seconds for run in runs)
    print(f"facekit run: {len(runs)} notebook(s) executed in {total:.0f} s; executed copies in "
          f"{runs[0].executed.parent if runs else '-'}")
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:

    text, ok = report()
    print(text)
    return 0 if ok or not args.strict else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facekit", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version",
                        version=f"facekit {facekit.__version__} (distribution facekit-workbook)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="execute the numbered notebooks headless (papermill), in order")
    run.add_argument("notebooks", nargs="*", metavar="NOTEBOOK",
                     help="notebooks by stem, file or number prefix (default: all)")
    run.add_argument("--quick", action="store_true", help="QUICK=True: small data, one epoch (what the tests run)")
    run.add_argument("--out", metavar="DIR",
                     help="keep everything the run writes under DIR: figures in DIR/<notebook>/, checkpoints in "
                          "DIR/checkpoints/, executed notebooks in DIR/notebooks/ (default: figures/<notebook>/, "
                          "build/checkpoints/, build/notebooks/)")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="set a notebook parameter, as papermill's -p (e.g. -p CHECKPOINT path/to/model.pt); given "
                          "to every chosen notebook that declares it")
    run.add_argument("--quiet", action="store_true",
                     help="one line per notebook only (default: also each cell as it starts and what it prints)")
    run.set_defaults(func=_cmd_run)

    doctor = sub.add_parser("doctor", help="versions, device, threads, and whether data and checkpoints are present")
    doctor.add_argument("--strict", action="store_true", help="exit 1 when something the notebooks need is missing")
    doctor.set_defaults(func=_cmd_doctor)

    for module in _COMMAND_MODULES:
        importlib.import_module(module).add_command(sub)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that the same clean-up and message as Ctrl-C run."""


def _on_sigterm(signum, frame):
    raise Terminated()


def _again(argv: list[str], command: str) -> str:
    """The command to type to continue after an interruption."""
    words = ["facekit", *argv]
    if command in ("train-emotions", "train-fau"):
        return " ".join(words + ([] if "--resume" in words else ["--resume"]))
    return " ".join(words)


def main(argv: list[str] | None = None) -> int:
    """Run one command. A person's mistake or the machine's state gets one message and an exit code, never a
    traceback: 130 for Ctrl-C and 143 for SIGTERM (with the command that continues), 1 for a disk that is full or
    read-only or a path of the wrong type, 2 for bad option values (argparse, before any work)."""

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if _main_thread() else None
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        print(f"\nfacekit {args.command}: {'stopped (SIGTERM)' if terminated else 'interrupted (Ctrl-C)'}. "
              f"{getattr(exc, 'facekit_note', '')}Finished work is kept; to go on, run:\n  "
              f"{getattr(exc, 'facekit_again', None) or _again(argv, args.command)}", file=sys.stderr)
        return 143 if terminated else 130
    except OSError as exc:
        print(f"facekit {args.command}: {_os_message(exc)}", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main_thread() -> bool:

    return threading.current_thread() is threading.main_thread()


def _os_message(exc: OSError) -> str:
    """One line for a file-system error: what, where, and what to do."""
    fixes = {errno.ENOSPC: "the disk is full: free some space (or write elsewhere) and rerun",
             errno.EROFS: "the file system is read-only: choose a writable output (e.g. under build/)",
             errno.EACCES: "permission denied: choose a writable output (e.g. under build/)",
             errno.ENOTDIR: "a file stands where a folder belongs: choose another output folder",
             errno.EISDIR: "that is a folder: give a file name",
             errno.EEXIST: "a file of that name is in the way: choose another output"}
    if exc.errno in fixes:
        return f"cannot write {exc.filename or 'the output'}: {fixes[exc.errno]}."
    return str(exc)


if __name__ == "__main__":
    raise SystemExit(main())
