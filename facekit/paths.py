"""Where things live: one place that finds the repository root and the folders under it.

Works from JupyterLab (cwd = notebooks/), papermill (cwd set by the runner), a terminal anywhere inside the
checkout, and Colab (the repository cloned under /content). ``FACEKIT_ROOT`` overrides the search.
"""
from __future__ import annotations

import os
from pathlib import Path

_MARKERS = ("pyproject.toml", "facekit")


def _looks_like_root(path: Path) -> bool:
    return (path / "pyproject.toml").is_file() and (path / "facekit" / "__init__.py").is_file()


def repo_root(start: str | os.PathLike | None = None) -> Path:
    """Return the facekit checkout that holds ``notebooks/``, ``data/`` and ``figures/``.

    Search order: ``$FACEKIT_ROOT``; ``start`` (default: the working directory) and its parents; the folder this
    package was imported from (an editable install); ``/content/facekit`` on Colab.
    """
    env = os.environ.get("FACEKIT_ROOT")
    if env:
        root = Path(env).expanduser().resolve()
        if not _looks_like_root(root):
            raise FileNotFoundError(f"FACEKIT_ROOT={env} is not a facekit checkout (no pyproject.toml + facekit/)")
        return root
    here = Path(start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if _looks_like_root(candidate):
            return candidate
    package_parent = Path(__file__).resolve().parent.parent
    if _looks_like_root(package_parent):
        return package_parent
    colab = Path("/content/facekit")
    if _looks_like_root(colab):
        return colab
    raise FileNotFoundError(
        f"Cannot find the facekit checkout from {here}: run from inside the cloned repository "
        "or set FACEKIT_ROOT to its folder."
    )


def data_dir(*parts: str) -> Path:
    """``data/`` (committed small inputs and shipped checkpoints) joined with ``parts``."""
    return repo_root() / "data" / Path(*parts) if parts else repo_root() / "data"


def cache_dir(*parts: str) -> Path:
    """``data/cache/``: generated data sets, ignored by git; ``FACEKIT_CACHE`` overrides it."""
    base = Path(os.environ["FACEKIT_CACHE"]) if os.environ.get("FACEKIT_CACHE") else repo_root() / "data" / "cache"
    return base.joinpath(*parts)


def figures_dir(notebook: str | None = None) -> Path:
    """``figures/`` or ``figures/<notebook-stem>/``."""
    base = repo_root() / "figures"
    return base / Path(notebook).stem if notebook else base


def build_dir(*parts: str) -> Path:
    """``build/``: executed notebooks, e2e screenshots, benchmark output (ignored by git)."""
    return repo_root().joinpath("build", *parts)


def checkpoint_dir() -> Path:
    """Where notebooks write the checkpoints they train: ``$FACEKIT_CKPT_DIR`` or ``build/checkpoints``."""
    env = os.environ.get("FACEKIT_CKPT_DIR")
    return Path(env) if env else build_dir("checkpoints")


def shipped_checkpoint_dir() -> Path:
    """``data/checkpoints/``: small checkpoints trained by the project's own scripts and committed."""
    return data_dir("checkpoints")


def find_checkpoint(name: str, ckpt_dir: str | os.PathLike | None = None) -> Path:
    """The checkpoint a notebook's ``CHECKPOINT`` parameter names: a shipped *name* or a *path* to a file.

    A name: a checkpoint trained earlier in this run (``ckpt_dir`` or :func:`checkpoint_dir`) wins over the shipped
    copy in ``data/checkpoints/``, so a full ``make workbook`` uses what it just trained and a lone notebook still
    runs. A path (absolute, or relative to the working folder or to the repository root; e.g. the course's
    ``model.pth`` or a starter ``.t7``) is returned as it is when the file exists; a bare file name that is
    neither a run's nor a shipped checkpoint is last looked for in the working folder.
    """
    given = Path(name).expanduser()
    if given.is_absolute() or given.parent != Path("."):
        for path in ([given] if given.is_absolute() else [given, repo_root() / given]):
            if path.is_file():
                return path.resolve()
        raise FileNotFoundError(f"Checkpoint file {name} does not exist (looked at {given.resolve()}"
                                f"{'' if given.is_absolute() else f' and {repo_root() / given}'}): give the path "
                                "to the file or a shipped name.")
    candidates = [Path(ckpt_dir or checkpoint_dir()) / name, shipped_checkpoint_dir() / name, given.resolve()]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"Checkpoint {name!r} not found in {candidates[0].parent} nor in {candidates[1].parent}: run the notebook "
        "that trains it first (see README, notebook table) or restore data/checkpoints/ from git."
    )
