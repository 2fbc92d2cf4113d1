"""Colab: install the workbook from a copy the user controls, with its assets, and work from its ``notebooks/``.

Every notebook's first code cell is the bootstrap (it does nothing outside Colab). facekit is not importable before
it is installed, so the cell itself does only what must come first: mount Google Drive when ``WORKBOOK`` is a Drive
folder, and ``pip install`` the distribution ``facekit-workbook`` from ``WORKBOOK`` (:func:`pip_spec`, repeated in
the cell). Then it calls :func:`setup_colab`, which does everything else: find or fetch the checkout the notebooks
read (``data/``, ``notebooks/``), extract the real assets, set ``FACEKIT_ROOT`` and change into ``notebooks/``.

``WORKBOOK`` is one of

* a folder, normally the code base uploaded to Google Drive (``/content/drive/MyDrive/facekit``, the assignment's
  own Colab steps);
* a git URL (``https://github.com/<you>/facekit.git``, or any ``scheme://`` URL that is not a wheel): pip installs
  ``git+URL`` and :func:`setup_colab` clones it to ``/content/facekit`` for the data and notebooks;
* a wheel, ``facekit_workbook-*.whl`` (a path or URL): the package only, so the data and notebooks come from an
  existing checkout (``checkout``, default ``/content/facekit``, or the folder the notebook runs in).

Never ``pip install facekit``: that name on PyPI is an unrelated project.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from facekit.asset_wheels import ensure_assets
import importlib.metadata

#: The distribution name on pip's side (the import name stays ``facekit``).
_DISTRIBUTION = "facekit-workbook"
#: Where a git source is cloned on Colab.
_COLAB_CHECKOUT = "/content/facekit"
_DRIVE_MOUNT = "/content/drive"


def source_kind(source: str) -> str:
    """``"wheel"``, ``"git"`` or ``"folder"`` for a ``WORKBOOK`` value (the rule the Colab cell applies)."""
    source = str(source).strip()
    if not source:
        raise ValueError("WORKBOOK is empty: set it to your Drive folder, a git URL or a facekit_workbook .whl file.")
    if source.endswith(".whl"):
        return "wheel"
    if "://" in source or source.startswith("git@"):
        return "git"
    return "folder"


def pip_spec(source: str) -> str:
    """What ``pip install`` gets for ``source``: the folder or wheel as given, ``git+URL`` for a git URL."""
    kind = source_kind(source)
    return f"git+{source}" if kind == "git" and not source.startswith("git+") else str(source)


def _is_checkout(path: Path) -> bool:
    return (path / "pyproject.toml").is_file() and (path / "notebooks").is_dir() and (path / "data").is_dir()


def find_checkout(source: str, checkout: str | os.PathLike = _COLAB_CHECKOUT, *, cwd: str | os.PathLike | None = None,
                  runner=subprocess.run) -> Path:
    """The folder with ``notebooks/`` and ``data/`` for ``source``: the folder itself, a fresh clone of the git
    URL in ``checkout`` (reused when it is already there), or for a wheel ``checkout`` or a parent of ``cwd``."""
    kind = source_kind(source)
    if kind == "folder":
        root = Path(source).expanduser()
        if not _is_checkout(root):
            hint = (" Is Google Drive mounted, and is this the folder you uploaded?"
                    if str(root).startswith(_DRIVE_MOUNT) else "")
            raise FileNotFoundError(f"WORKBOOK={source!r} is not a facekit folder (it needs pyproject.toml, "
                                    f"notebooks/ and data/).{hint} Upload the whole code base there or correct WORKBOOK.")
        return root.resolve()
    checkout = Path(checkout)
    if kind == "git":
        if not _is_checkout(checkout):
            url = source[4:] if source.startswith("git+") else source
            result = runner(["git", "clone", "-q", "--depth", "1", url, str(checkout)], capture_output=True, text=True)
            if result.returncode != 0 or not _is_checkout(checkout):
                raise RuntimeError(f"git clone {url} into {checkout} failed: {(result.stderr or '').strip()[:300]}")
        return checkout.resolve()
    here = Path(cwd or Path.cwd()).resolve()
    for candidate in (checkout, here, *here.parents):
        if _is_checkout(Path(candidate)):
            return Path(candidate).resolve()
    raise FileNotFoundError(f"WORKBOOK is a wheel, which holds the facekit package only; the notebooks and data/ were "
                            f"not found in {checkout} nor above {here}. Set WORKBOOK to your Drive folder or git "
                            "URL instead (or upload the code base to that folder).")


def setup_colab(source: str, *, checkout: str | os.PathLike = _COLAB_CHECKOUT, assets: bool = True,
                chdir: bool = True, notice=print) -> Path:
    """Everything the Colab cell does after ``pip install``: find (or clone) the checkout, set ``FACEKIT_ROOT``,
    fetch the real assets into this environment, change into ``notebooks/``; return the checkout."""

    root = find_checkout(source, checkout)
    os.environ["FACEKIT_ROOT"] = str(root)
    if assets:

        ensure_assets(notice=notice)
    if chdir:
        os.chdir(root / "notebooks")
    try:
        version = importlib.metadata.version(_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        version = "not installed as a distribution"
    if notice:
        notice(f"facekit-workbook {version} from {source_kind(source)} {source}; workbook at {root}")
    return root
