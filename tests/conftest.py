"""Shared fixtures: every notebook executed once per test session in QUICK mode, into a temporary folder."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from facekit.runner import execute_notebook, jupyter_env, resolve_notebooks

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _quiet_jupyter(tmp_path_factory):
    """Keep Jupyter/IPython/matplotlib state out of the home folder and use a non-GUI matplotlib backend."""
    for key, value in jupyter_env(tmp_path_factory.mktemp("jupyter")).items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.setdefault("FACEKIT_REPORT_OUTPUTS", "0")  # no report PDFs/LaTeX in tests unless a test asks for them


@pytest.fixture(autouse=True)
def threads_restored():
    """Every test leaves torch's thread count and facekit's thread governor as it found them: a test that calls
    ``facekit.setup`` (which starts the governor) must not make later tests change threads with the machine's load,
    since a thread change alters floating-point rounding (e.g. the resumed-equals-uninterrupted training checks)."""
    import torch

    from facekit import runtime

    before, governor = torch.get_num_threads(), runtime._GOVERNOR
    yield
    torch.set_num_threads(before)
    runtime._GOVERNOR = governor


@pytest.fixture(scope="session")
def workbook_dir(tmp_path_factory) -> Path:
    """The session's output folder: ``<stem>/`` per notebook and a shared ``checkpoints/``."""
    return tmp_path_factory.mktemp("workbook")


@pytest.fixture(scope="session")
def run_notebook(workbook_dir):
    """``run_notebook(stem, **params) -> Path``: execute a notebook once in QUICK mode and return its output folder.

    Results are cached per (stem, params), so the generic smoke test and a notebook's own assertions share one run.
    Checkpoints go to a session folder that later notebooks read before falling back to ``data/checkpoints``.
    """
    cache: dict[tuple, Path] = {}

    def run(stem: str, **params) -> Path:
        key = (stem, tuple(sorted(params.items())))
        if key not in cache:
            (notebook,) = resolve_notebooks([stem])
            suffix = "" if not params else "-" + "-".join(f"{k}={v}" for k, v in sorted(params.items()))
            out_dir = workbook_dir / f"{notebook.stem}{suffix}"
            execute_notebook(notebook, quick=True, out_dir=out_dir, ckpt_dir=workbook_dir / "checkpoints",
                             executed_dir=workbook_dir / "executed", parameters=params)
            cache[key] = out_dir
        return cache[key]

    return run
