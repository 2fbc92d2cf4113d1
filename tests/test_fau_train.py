"""The FAU trainer and data: a tiny model learns, checkpoints resume to the same result, data formats are checked."""
import numpy as np
import pandas as pd
import pytest
import torch

from facekit.data import FaceSet
from facekit.fau.data import load_au_csv
from facekit.fau.heatmaps import read_intensities
from facekit.fau.model import FAUConfig, build_fau_model
from facekit.fau.train import make_batch, set_backbone_frozen, train_fau, train_step
from facekit.runtime import seed_everything

@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread: on a shared 2-core machine two threads oversubscribe and run several times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


CONFIG = FAUConfig(layers=(1, 1, 1, 1), base_width=8, deconv_filters=(16, 16, 16), input_size=64)


def blob_faces(n, seed=0, size=64):
    """Toy AU data: a bright blob at each AU point whose brightness is the intensity (learnable in seconds)."""
    rng = np.random.default_rng(seed)
    inten = rng.uniform(0, 5, (n, 5)).astype(np.float32)
    base = np.array([[[16, 24], [48, 24]], [[22, 36], [42, 36]], [[14, 44], [50, 44]], [[20, 52], [44, 52]],
                     [[28, 58], [36, 58]]], np.float32)
    pts = base[None] + rng.normal(0, 1.0, (n, 5, 2, 2)).astype(np.float32)
    yy, xx = np.mgrid[:size, :size]
    img = np.full((n, size, size), 40.0)
    for i in range(n):
        for a in range(5):
            for p in range(2):
                x, y = pts[i, a, p]
                img[i] += 40 * inten[i, a] * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 8)
    return FaceSet(torch.from_numpy(np.clip(img, 0, 255).astype(np.uint8)), au=torch.from_numpy(inten),
                   aus=(6, 10, 12, 14, 17), points=torch.from_numpy(pts), source="blobs")


def test_make_batch_shapes_and_flip_swaps_left_and_right():
    data = blob_faces(4)
    x, y = make_batch(data, [0, 1], CONFIG)
    assert x.shape == (2, 1, 64, 64) and y.shape == (2, 10, 16, 16)
    assert torch.allclose(read_intensities(y), data.au[:2], atol=1e-6)
    g = torch.Generator().manual_seed(0)
    xa, ya, pts = make_batch(data, [0, 1, 2, 3], CONFIG, augment=True, generator=g, with_points=True)
    assert torch.allclose(read_intensities(ya), data.au, atol=1e-6)  # labels preserved
    assert (pts[..., 0, 0] < pts[..., 1, 0]).all(), "after a flip the left point must still be the left one"


def test_train_step_updates_weights_and_returns_the_loss():
    seed_everything(0)
    model = build_fau_model(CONFIG)
    x, y = make_batch(blob_faces(4), range(4), CONFIG)
    before = model.final_layer.weight.detach().clone()
    loss = train_step(model, x, y, torch.optim.Adam(model.parameters(), 1e-3))
    assert loss > 0 and not torch.equal(before, model.final_layer.weight)


def test_tiny_model_learns_intensities_and_resume_gives_the_same_run(tmp_path):
    train, val = blob_faces(96, seed=0), blob_faces(32, seed=1)
    seed_everything(0)
    kw = dict(batch_size=8, lr=5e-3, fg_weight=5.0, seed=0, progress=False)
    full = train_fau(build_fau_model(CONFIG), train, val, epochs=6, ckpt_path=tmp_path / "a.pt", **kw)
    assert list(full.columns[:4]) == ["epoch", "train_loss", "lr", "seconds"] and len(full) == 6
    assert full["train_loss"].iloc[-1] < full["train_loss"].iloc[0]
    assert full["val_pcc"].iloc[-1] > 0.5, "a model that learned nothing cannot correlate with the intensities"
    seed_everything(0)
    interrupted = train_fau(build_fau_model(CONFIG), train, val, epochs=6, ckpt_path=tmp_path / "b.pt",
                            stop_after=3, **kw)
    assert len(interrupted) == 3
    resumed = train_fau(build_fau_model(CONFIG), train, val, epochs=6, ckpt_path=tmp_path / "b.pt", resume=True,
                        **kw)
    assert len(resumed) == 6
    np.testing.assert_allclose(resumed["train_loss"], full["train_loss"], rtol=1e-4)


def test_freeze_backbone_trains_only_the_head():
    model = build_fau_model(CONFIG)
    total = sum(p.numel() for p in model.parameters())
    head = sum(p.numel() for m in (model.deconv_layers, model.final_layer) for p in m.parameters())
    assert set_backbone_frozen(model, True) == head < total
    before = model.layer1[0].conv1.weight.detach().clone()
    train_fau(model, blob_faces(16), epochs=1, batch_size=8, freeze_backbone=True, progress=False)
    assert torch.equal(before, model.layer1[0].conv1.weight)


def test_real_au_csv_loads_and_bad_files_say_what_is_wrong(tmp_path):
    import cv2

    data = blob_faces(3)
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), data.images[i].numpy())
    rows = pd.DataFrame({"path": [f"f{i}.png" for i in range(3)],
                         **{f"AU{a}": data.au.numpy()[:, j] for j, a in enumerate((6, 10, 12, 14, 17))}})
    rows.to_csv(tmp_path / "labels.csv", index=False)
    cols = {f"AU{a}_{s}_{c}": data.points.numpy()[:, j, k, m] for j, a in enumerate((6, 10, 12, 14, 17))
            for k, s in enumerate("lr") for m, c in enumerate("xy")}
    rows.assign(**cols).to_csv(tmp_path / "with_points.csv", index=False)
    loaded = load_au_csv(tmp_path / "with_points.csv", size=64)
    assert loaded.images.shape == (3, 64, 64) and torch.allclose(loaded.points, data.points, atol=1e-4)
    rows.drop(columns="AU17").to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match=r"missing columns \['AU17'\]"):
        load_au_csv(tmp_path / "bad.csv")
    rows.assign(path="nope.png").assign(**cols).to_csv(tmp_path / "missing.csv", index=False)
    with pytest.raises(FileNotFoundError, match="line 2: cannot read image"):
        load_au_csv(tmp_path / "missing.csv")
