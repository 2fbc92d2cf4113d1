"""The workbook's notebook files: which notebooks it has (``NN_name.ipynb``) and how an executed copy is read.

Both the runner and the hand-in kit need these, so they live below both."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from facekit import paths

NOTEBOOK_PATTERN = re.compile(r"^\d\d_[a-z0-9_]+\.ipynb$")


class ExecutedNotebookError(ValueError):
    """An executed notebook that cannot be read (not JSON: a write was cut off); names the file and the fix."""


def read_executed(path: str | os.PathLike) -> dict:
    """The JSON of an executed notebook, or :class:`ExecutedNotebookError` naming it (a cut-off write, e.g. a full
    disk during an older run)."""
    path = Path(path)
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ExecutedNotebookError(
            f"{path} is not a readable notebook ({type(exc).__name__}: {str(exc)[:120]}): its write was cut off "
            f"(a full disk or a killed run). Delete it and rerun that notebook (`facekit run {path.stem[:2]}`)."
        ) from None
    if not isinstance(nb, dict):
        raise ExecutedNotebookError(f"{path} is not a notebook (JSON {type(nb).__name__}); delete it and rerun.")
    return nb


def list_notebooks(folder: str | os.PathLike | None = None) -> list[Path]:
    """The workbook's notebooks ``NN_name.ipynb``, in numeric order."""
    folder = Path(folder) if folder else paths.repo_root() / "notebooks"
    return sorted(p for p in folder.glob("*.ipynb") if NOTEBOOK_PATTERN.match(p.name))
