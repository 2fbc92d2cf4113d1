"""Shared fixtures: every notebook executed once per test session in QUICK mode, into a temporary folder."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from facekit_tools.runner import execute_notebook, jupyter_env, resolve_notebooks

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
def au_step():
    """``au_step(au, size=48, features=None) -> (low, high, region, diff)``: three clean frontal faces (identities
    11-13) rendered with every AU at 0 and again with ``au`` at 5, the union of that AU's region masks in both, and
    the absolute pixel differences: what the "an AU moves only its region" tests check."""
    import torch

    from facekit.synth import AUS, au_region_masks, render_faces

    def step(au: int, size: int = 48, features=None):
        n = 3
        low = torch.zeros(n, len(AUS))
        high = low.clone()
        high[:, AUS.index(au)] = 5.0
        ids = torch.arange(n) + 11
        a = render_faces(n, seed=4, au=low, identity_seed=ids, nuisance=False, size=size, features=features)
        b = render_faces(n, seed=4, au=high, identity_seed=ids, nuisance=False, size=size, features=features)
        region = au_region_masks(a, [au])[:, 0] | au_region_masks(b, [au])[:, 0]
        return a, b, region, (a.images.int() - b.images.int()).abs()

    return step


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
