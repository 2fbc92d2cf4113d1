"""Few-shot tuning (facekit.fau.fewshot): the loop lowers the loss on the handful, tables have the promised shape."""
import numpy as np
import pytest
import torch

from facekit.fau import fewshot
from facekit.data import FaceSet
from facekit.fau.model import FAUConfig, build_fau_model
from facekit.io import load_checkpoint


def tiny_config(**kw):
    return FAUConfig(layers=(1, 1, 1, 1), base_width=8, deconv_filters=(16, 16, 16), input_size=64, **kw)


def handful(n=6, size=64, seed=0):
    """Faces whose bright blobs sit at the AU points, with intensity = blob brightness: learnable from pixels."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform(12, size - 12, size=(n, 5, 2, 2)).astype(np.float32)
    inten = rng.uniform(0, 5, size=(n, 5)).astype(np.float32)
    yy, xx = np.mgrid[0:size, 0:size]
    img = np.zeros((n, size, size), np.float32)
    for i in range(n):
        for a in range(5):
            for p in range(2):
                x, y = pts[i, a, p]
                img[i] += inten[i, a] / 5 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 18)
    return FaceSet(torch.from_numpy((np.clip(img, 0, 1) * 255).astype(np.uint8)), au=torch.from_numpy(inten),
                   aus=(6, 10, 12, 14, 17), points=torch.from_numpy(pts), source="toy")


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    return fewshot.save_tuned_model(build_fau_model(tiny_config()), tmp_path / "start.pth")


@pytest.fixture(params=[False, True], ids=["baseline", "patch_attention"])
def any_checkpoint(request, tmp_path):
    torch.manual_seed(0)
    model = build_fau_model(tiny_config(patch_attention=request.param))
    return fewshot.save_tuned_model(model, tmp_path / "start.pth")


def test_tuning_lowers_the_loss_on_the_handful(any_checkpoint):
    checkpoint = any_checkpoint
    data = handful()
    model, history = fewshot.tune_fewshot(checkpoint, data, lr=1e-2, epochs=5, batch_size=2, augment=False, seed=0)
    assert len(history) == 5 and np.isfinite(history["train_loss"]).all()
    assert history["train_loss"].iloc[-1] < 0.85 * history["train_loss"].iloc[0]
    assert history.attrs["clean_loss_after"] < 0.9 * history.attrs["clean_loss_before"]


def test_tuning_is_repeatable_with_a_seed(checkpoint):
    data = handful()
    runs = [fewshot.tune_fewshot(checkpoint, data, lr=1e-3, epochs=2, batch_size=3, seed=7)[1] for _ in range(2)]
    assert runs[0]["train_loss"].tolist() == runs[1]["train_loss"].tolist()


def test_frozen_backbone_does_not_move(checkpoint):
    data = handful()
    start = load_checkpoint(checkpoint)["state_dict"]
    model, _ = fewshot.tune_fewshot(checkpoint, data, lr=3e-3, epochs=1, batch_size=3, freeze_backbone=True)
    assert torch.equal(model.conv1.weight, start["conv1.weight"])
    assert not torch.equal(model.final_layer.weight, start["final_layer.weight"])


def test_sweep_and_seed_tables(checkpoint, tmp_path):
    data = handful()
    sets = {"toy": handful(5, seed=1)}
    sweep = fewshot.sweep_learning_rates(checkpoint, data, sets, lrs=(1e-4, 1e-3), epochs=1, batch_size=3)
    assert list(sweep.index) == [0.0, 1e-4, 1e-3]
    assert {"final_train_loss", "toy_icc", "toy_mae", "toy_spread", "collapsed"} <= set(sweep.columns)
    seeds = fewshot.repeat_seeds(checkpoint, data, sets, seeds=(0, 1), epochs=1, batch_size=3)
    summary = fewshot.summarise_seeds(seeds, sweep.loc[0.0].to_dict())
    assert {"toy_icc", "toy_mae"} <= set(summary.index)
    assert (summary["after_min"] <= summary["after_max"]).all()


def test_saved_tuned_model_loads_back(checkpoint, tmp_path):
    from facekit.fau.model import load_fau_model

    model, _ = fewshot.tune_fewshot(checkpoint, handful(), lr=1e-3, epochs=1, batch_size=3)
    path = fewshot.save_tuned_model(model, tmp_path / "tuned_model.pth", fewshot={"lr": 1e-3})
    again = load_fau_model(path)
    x = torch.rand(2, 1, 64, 64)
    assert torch.allclose(again(x), model.eval()(x))
    assert load_checkpoint(path)["fewshot"] == {"lr": 1e-3}


def test_bad_settings_are_refused(checkpoint):
    with pytest.raises(ValueError, match="lr must be > 0"):
        fewshot.tune_fewshot(checkpoint, handful(), lr=0)


@pytest.mark.notebook
def test_fewshot_notebook_writes_tuned_model_and_tables(run_notebook, workbook_dir):
    import json

    out = run_notebook("07_fewshot")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_fewshot_faces"] >= 5
    assert np.isfinite(metrics["final_train_loss"]) and metrics["final_train_loss"] > 0
    assert metrics["clean_loss_after"] < metrics["clean_loss_before"], "tuning must lower the loss on the handful"
    for key in ("test2_icc_before", "test2_icc_after_mean", "test2_icc_after_std", "test_mae_before", "wild_mae_after_mean"):
        assert key in metrics
    for name in ("lr_sweep.csv", "seed_summary.csv", "before_after_per_au.csv", "heatmaps_test2.png", "lr_sweep.png"):
        assert (out / name).is_file(), name
    tuned = workbook_dir / "checkpoints" / "tuned_model.pth"
    assert load_checkpoint(tuned)["fewshot"]["n_faces"] == metrics["n_fewshot_faces"]
