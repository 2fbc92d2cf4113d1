"""The helpers every notebook uses: paths, seeding, device choice, atomic writes, checkpoints, the doctor."""
from __future__ import annotations

import json
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import pytest
import torch

import facekit as fk
from facekit import io, paths, runtime
from facekit_tools.cli import main as cli_main
from facekit.data import FaceSet


def test_repo_root_found_from_notebooks_folder(monkeypatch):
    root = fk.repo_root()
    monkeypatch.chdir(root / "notebooks")
    assert fk.repo_root() == root
    assert (root / "pyproject.toml").is_file()


def test_repo_root_env_override_must_be_a_checkout(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEKIT_ROOT", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="not a facekit checkout"):
        fk.repo_root()


def test_seed_everything_repeats_draws():
    fk.seed_everything(7)
    a = torch.randn(5), torch.rand(3)
    fk.seed_everything(7)
    b = torch.randn(5), torch.rand(3)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    fk.seed_everything(8)
    assert not torch.equal(torch.randn(5), a[0])


def test_pick_device_prefers_override_and_refuses_missing(monkeypatch):
    assert fk.pick_device("cpu").type == "cpu"
    monkeypatch.setenv("FACEKIT_DEVICE", "cpu")
    assert fk.pick_device().type == "cpu"
    monkeypatch.delenv("FACEKIT_DEVICE")
    expected = "cuda" if torch.cuda.is_available() else ("mps" if runtime._mps_available() else "cpu")
    assert fk.pick_device().type == expected
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA"):
            fk.pick_device("cuda")


def test_pick_device_order_cuda_then_mps(monkeypatch):
    monkeypatch.delenv("FACEKIT_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert fk.pick_device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(runtime, "_mps_available", lambda: True)
    assert fk.pick_device().type == "mps"


def test_setup_routes_outputs(tmp_path):
    ctx = fk.setup("07_example", seed=3, out_dir=tmp_path / "figs", ckpt_dir=tmp_path / "ck", device="cpu")
    assert ctx.name == "07_example" and ctx.seed == 3 and ctx.device.type == "cpu"
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = fk.save_fig(fig, "line")
    plt.close(fig)
    assert path == ctx.out_dir / "line.png" and path.read_bytes()[:4] == b"\x89PNG"
    fk.save_table(pd.DataFrame({"a": [1, 2]}), "table", index=False)
    assert (ctx.out_dir / "table.csv").read_text().splitlines() == ["a", "1", "2"]
    fk.save_metrics({"acc": torch.tensor(0.5), "bad": math.nan, "n": 3})
    assert json.loads((ctx.out_dir / "metrics.json").read_text()) == {"acc": 0.5, "bad": None, "n": 3}
    assert not [p for p in ctx.out_dir.iterdir() if p.name.startswith(".")], "temporary files left behind"


def test_save_without_setup_or_folder_says_what_to_do(monkeypatch):
    monkeypatch.setattr(runtime, "_CONTEXT", None)
    with pytest.raises(RuntimeError, match="facekit.setup"):
        fk.save_metrics({"a": 1})


def test_atomic_write_keeps_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "results.csv"
    target.write_text("old")
    with pytest.raises(ZeroDivisionError):
        with io.atomic_path(target) as tmp:
            tmp.write_text("half")
            1 / 0
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"]


def test_atomic_write_gives_files_the_usual_permissions(tmp_path):
    path = io.atomic_write_text(tmp_path / "table.csv", "a\n")
    assert path.stat().st_mode & 0o777 == 0o666 & ~io._umask()


def test_checkpoint_round_trip_and_clear_errors(tmp_path):
    path = tmp_path / "model.pt"
    fk.save_checkpoint({"state_dict": {"w": torch.ones(2)}, "config": {"width": 8}}, path)
    assert torch.equal(fk.load_checkpoint(path)["state_dict"]["w"], torch.ones(2))
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="corrupt"):
        fk.load_checkpoint(path)
    torch.save({"weights": 1}, path)
    with pytest.raises(ValueError, match="state_dict"):
        fk.load_checkpoint(path)
    with pytest.raises(FileNotFoundError):
        fk.load_checkpoint(tmp_path / "missing.pt")


def test_find_checkpoint_prefers_this_runs_copy(tmp_path, monkeypatch):
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "m.pt").write_bytes(b"shipped")
    monkeypatch.setattr(paths, "shipped_checkpoint_dir", lambda: shipped)
    run_dir = tmp_path / "run"
    assert fk.find_checkpoint("m.pt", run_dir) == shipped / "m.pt"
    run_dir.mkdir()
    (run_dir / "m.pt").write_bytes(b"fresh")
    assert fk.find_checkpoint("m.pt", run_dir) == run_dir / "m.pt"
    with pytest.raises(FileNotFoundError, match="run the notebook"):
        fk.find_checkpoint("other.pt", run_dir)


def test_fer_faceset_validates_and_splits():
    images = torch.zeros(4, 48, 48, dtype=torch.uint8)
    data = FaceSet(images, emotion=torch.tensor([0, 3, 3, 6]), usage=torch.tensor([0, 0, 1, 2]), source="test")
    assert len(data.split("Training")) == 2 and len(data.split("PrivateTest")) == 1
    counts = data.class_counts()
    assert counts.loc["happy"].tolist() == [1, 1, 0]
    with pytest.raises(KeyError, match="PublicTest"):
        data.split("Validation")
    with pytest.raises(ValueError, match="emotion"):
        FaceSet(images, emotion=torch.tensor([0, 1, 2, 7]), usage=torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="rows"):
        FaceSet(images, emotion=torch.tensor([0, 1]), usage=torch.zeros(4, dtype=torch.long))


def test_doctor_prints_stack_device_and_data(capsys):
    status = cli_main(["doctor"])
    out = capsys.readouterr().out
    assert status == 0
    assert "torch" in out and "device:" in out and "torch threads:" in out
    assert "data/checkpoints/emotion_minixception.pt" in out


def test_jupyter_env_points_into_given_folder(tmp_path):
    from facekit_tools.runner import jupyter_env

    env = jupyter_env(tmp_path)
    assert set(env) >= {"JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"}
    assert all(value.startswith(str(tmp_path)) and os.path.isdir(value) for value in env.values())
