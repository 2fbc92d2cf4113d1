"""The all-AU FAU configuration (issue 17): shapes, strict loading, the readout round trip, the AU points, the
lab-to-wild augmentations and the computed Q2.5 verdict."""
import numpy as np
import pandas as pd
import pytest
import torch

from facekit.fau import answers as fa
from facekit.fau import au_emotion as ae
from facekit.fau.augment import affine_points, face_mask, wild_augment
from facekit.fau.heatmaps import make_heatmaps, read_intensities
from facekit.fau.model import (ALL_AUS, FAU_AUS, CheckpointMismatchError, FAUConfig, build_fau_model, fau_checkpoint,
                               load_fau_model, load_fau_weights)
from facekit.fau.points import AU_POINTS, au_points, swaps_on_flip


def test_all_au_config_predicts_two_maps_for_every_generated_au():
    from facekit.synth import AUS

    cfg = FAUConfig.all_aus()
    assert cfg.aus == tuple(AUS) == ALL_AUS and cfg.num_aus == 17 and cfg.num_maps == 34
    torch.manual_seed(0)
    model = build_fau_model(cfg).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 1, 128, 128))
    assert out.shape == (2, 34, 32, 32)
    # same design as the demo model: only final_layer differs
    demo = build_fau_model(FAUConfig()).state_dict()
    diff = {k for k, v in model.state_dict().items() if k not in demo or demo[k].shape != v.shape}
    assert diff == {"final_layer.weight", "final_layer.bias"}
    with pytest.raises(ValueError, match="num_aus=5"):
        FAUConfig(aus=ALL_AUS)


def test_all_au_checkpoint_loads_strictly_and_refuses_the_demo_model(tmp_path):
    from facekit.io import save_checkpoint

    torch.manual_seed(1)
    model = build_fau_model(FAUConfig.all_aus())
    path = save_checkpoint(fau_checkpoint(model), tmp_path / "allau.pt")
    loaded = load_fau_model(path)
    assert loaded.config.aus == ALL_AUS
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())
    with pytest.raises(CheckpointMismatchError, match="final_layer.weight"):
        load_fau_weights(build_fau_model(FAUConfig()), path)
    # the backbone of a 5-AU checkpoint starts an all-AU model; nothing else is skipped
    demo = build_fau_model(FAUConfig())
    fresh = build_fau_model(FAUConfig.all_aus())
    before = fresh.final_layer.weight.clone()
    load_fau_weights(fresh, fau_checkpoint(demo), skip=("final_layer.",))
    assert torch.equal(fresh.layer1[0].conv1.weight, demo.layer1[0].conv1.weight)
    assert torch.equal(fresh.final_layer.weight, before)


def test_readout_round_trip_for_all_aus():
    rng = np.random.default_rng(0)
    inten = torch.as_tensor(rng.uniform(0, 5, (3, 17)), dtype=torch.float32)
    pts = torch.as_tensor(rng.uniform(4, 28, (3, 17, 2, 2)), dtype=torch.float32)
    maps = make_heatmaps(pts, inten, 32)
    assert maps.shape == (3, 34, 32, 32)
    assert torch.allclose(read_intensities(maps), inten, atol=1e-6)


def test_every_generated_au_has_two_landmarks_and_midline_pairs_do_not_swap():
    from facekit.synth import LANDMARK_NAMES

    assert set(ALL_AUS) <= set(AU_POINTS)
    assert {n for a in ALL_AUS for n in AU_POINTS[a]} <= set(LANDMARK_NAMES)
    lm = np.arange(len(LANDMARK_NAMES) * 2, dtype=np.float32).reshape(1, -1, 2)
    pts = au_points(lm, LANDMARK_NAMES, aus=ALL_AUS)
    assert pts.shape == (1, 17, 2, 2)
    j = ALL_AUS.index(1)
    assert pts[0, j, 0].tolist() == lm[0, LANDMARK_NAMES.index("brow_inner_l")].tolist()
    swap = dict(zip(ALL_AUS, swaps_on_flip(ALL_AUS)))
    assert swap[12] and swap[1] and not swap[25] and not swap[16]
    assert swaps_on_flip(FAU_AUS).all()


def test_all_au_data_and_batches_match_the_model():
    from facekit.fau.data import make_au_data
    from facekit.fau.train import make_batch

    data = make_au_data(12, seed=5, aus=ALL_AUS)
    assert data.au.shape == (12, 17) and data.points.shape == (12, 17, 2, 2)
    assert data.frame().columns[0] == "AU1"
    cfg = FAUConfig.all_aus()
    g = torch.Generator().manual_seed(0)
    x, y = make_batch(data, range(8), cfg, augment=True, generator=g, robust=True)
    assert x.shape == (8, 1, 128, 128) and y.shape == (8, 34, 32, 32) and 0 <= x.min() and x.max() <= 1
    g2 = torch.Generator().manual_seed(0)
    x2, y2 = make_batch(data, range(8), cfg, augment=True, generator=g2, robust=True)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    with pytest.raises(ValueError, match="make_au_data"):
        make_batch(data, range(2), FAUConfig())


def test_wild_augment_moves_the_points_with_the_face():
    # one bright dot per image; geometry only: the dot must land where affine_points says
    s = 64
    pts = torch.tensor([[[[20.0, 30.0], [40.0, 25.0]]]]).repeat(6, 1, 1, 1)
    x = torch.zeros(6, 1, s, s)
    x[:, 0, 30, 20] = 1.0
    flat = dict(light=0.0, contrast=(1.0, 1.0), bright=(0.0, 0.0), gamma=(1.0, 1.0), p_blur=0.0, noise=0.0,
                p_occlude=0.0)
    out, moved = wild_augment(x, pts, torch.Generator().manual_seed(3), p_clean=0.0, ranges=flat)
    assert not torch.allclose(moved, pts)
    for i in range(6):
        idx = int(out[i, 0].argmax())
        peak = torch.tensor([idx % s, idx // s], dtype=torch.float32)
        assert (peak - moved[i, 0, 0]).norm() <= 1.5
    theta = torch.tensor([[[1.0, 0, 0], [0, 1.0, 0]]])
    assert torch.allclose(affine_points(pts[:1], theta, s), pts[:1], atol=1e-5)


def test_skin_tone_darkens_the_face_not_the_background_and_is_off_by_default():
    from facekit.fau.data import make_au_data
    from facekit.fau.train import make_batch

    s = 64
    pts = torch.tensor([[[[24.0, 22.0], [40.0, 22.0]], [[26.0, 44.0], [38.0, 44.0]]]]).repeat(4, 1, 1, 1)
    x = torch.full((4, 1, s, s), 0.8)
    still = dict(rotation=0.0, zoom=(1.0, 1.0), squash=1.0, shift=0.0, light=0.0, contrast=(1.0, 1.0),
                 bright=(0.0, 0.0), gamma=(1.0, 1.0), p_blur=0.0, noise=0.0, p_occlude=0.0)
    plain, _ = wild_augment(x, pts, torch.Generator().manual_seed(1), p_clean=0.0, ranges={**still, "skin": (1.0, 1.0)})
    dark, moved = wild_augment(x, pts, torch.Generator().manual_seed(1), p_clean=0.0,
                               ranges={**still, "skin": (0.5, 0.5)})
    assert torch.allclose(plain, x) and torch.equal(moved, pts)
    assert torch.allclose(dark[:, 0, 33, 32], torch.tensor(0.4))            # the face's centre at half its grey
    assert torch.allclose(dark[:, 0, 0, 0], torch.tensor(0.8))              # the corner (background) untouched
    mask = face_mask(pts, s)
    assert mask.shape == (4, 1, s, s) and mask[0, 0, 33, 32] == 1 and mask[0, 0, 2, 2] == 0
    # off by default: the same random numbers as a recipe written before the option existed
    data = make_au_data(6, seed=5, aus=ALL_AUS)
    cfg = FAUConfig.all_aus()
    base = make_batch(data, range(6), cfg, augment=True, generator=torch.Generator().manual_seed(0), robust=True)
    off = make_batch(data, range(6), cfg, augment=True, generator=torch.Generator().manual_seed(0),
                     robust={"skin": None})
    on = make_batch(data, range(6), cfg, augment=True, generator=torch.Generator().manual_seed(0),
                    robust={"skin": (0.5, 1.0)})
    assert torch.equal(base[0], off[0]) and not torch.equal(base[0], on[0])


def test_train_fau_skin_tone_needs_robust_and_a_fraction(tmp_path, capsys):
    from facekit_tools.cli import main

    assert main(["train-fau", "--skin-tone", "0.5", "--out", str(tmp_path / "f.pt"), "--threads", "1"]) == 2
    assert "--robust" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train-fau", "--robust", "--skin-tone", "1.5", "--out", str(tmp_path / "f.pt")])
    assert not (tmp_path / "f.pt").exists()


def _table(acc: dict, n: int = 500) -> pd.DataFrame:
    rows = {(m, d): {"accuracy": a} for (m, d), a in acc.items()}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = pd.MultiIndex.from_tuples(table.index, names=["method", "domain"])
    return ae.add_intervals(table, {"lab": n, "wild": n})


def test_wilson_interval_brackets_the_accuracy():
    lo, hi = ae.wilson_interval(250, 500)
    assert lo < 0.5 < hi and hi - lo == pytest.approx(0.0875, abs=0.002)
    assert ae.wilson_interval(0, 10)[0] == pytest.approx(0.0, abs=1e-12)


def test_q5_verdict_follows_the_numbers():
    errors = pd.DataFrame({"mae_lab": [0.5, 0.4, 0.3], "mae_wild": [1.5, 0.9, 0.35]},
                          index=["AU4", "AU12", "AU26"]).assign(mae_rise=lambda d: d.mae_wild - d.mae_lab)
    au_wins = _table({("AU", "lab"): 0.60, ("direct", "lab"): 0.55, ("AU", "wild"): 0.55, ("direct", "wild"): 0.25})
    text = fa.q5_verdict(au_wins, "direct", ["AU"], errors, top=2)
    assert "On wild faces the AU route wins" in text and "clears the bar" in text
    assert "On lab faces neither wins clearly" in text
    assert "AU4 (MAE 0.50 -> 1.50), AU12" in text and "steadiest AU is AU26" in text
    direct_wins = _table({("AU", "lab"): 0.30, ("direct", "lab"): 0.55, ("AU", "wild"): 0.20, ("direct", "wild"): 0.40})
    text = fa.q5_verdict(direct_wins, "direct", ["AU"], errors)
    assert "On wild faces the direct classifier wins" in text and "misses the bar" in text
    assert "On lab faces the direct classifier wins" in text
    small = _table({("AU", "lab"): 0.6, ("direct", "lab"): 0.5, ("AU", "wild"): 0.33, ("direct", "wild"): 0.25})
    assert "misses the bar" in fa.q5_verdict(small, "direct", ["AU"], errors)   # apart, but under 10 points


def test_q5_verdict_blames_the_reader_or_the_aus():
    errors = pd.DataFrame({"mae_lab": [0.5], "mae_wild": [1.5]}, index=["AU4"]).assign(mae_rise=1.0)
    acc = {("AU", "lab"): 0.4, ("direct", "lab"): 0.55, ("AU", "wild"): 0.3, ("direct", "wild"): 0.25,
           ("oracle", "lab"): 0.8, ("oracle", "wild"): 0.8}
    text = fa.q5_verdict(_table(acc), "direct", ["AU"], errors, oracle="oracle")
    assert "the miss is the AU reader's: 50.0 pp of accuracy is lost" in text
    acc.update({("oracle", "wild"): 0.3})
    text = fa.q5_verdict(_table(acc), "direct", ["AU"], errors, oracle="oracle")
    assert "Even the true AUs do not clear it" in text
    acc.update({("AU", "wild"): 0.6, ("oracle", "wild"): 0.8})
    assert "Reading errors still cost 20.0 pp" in fa.q5_verdict(_table(acc), "direct", ["AU"], errors, oracle="oracle")


def test_loaded_model_carries_its_training_settings(tmp_path):
    from facekit.io import save_checkpoint

    torch.manual_seed(0)
    model = build_fau_model(FAUConfig.all_aus())
    save_checkpoint(fau_checkpoint(model, settings={"robust": {"skin": (0.5, 1.0)}, "seed": 3}), tmp_path / "a.pt")
    save_checkpoint(fau_checkpoint(model), tmp_path / "b.pt")
    assert load_fau_model(tmp_path / "a.pt").train_settings == {"robust": {"skin": (0.5, 1.0)}, "seed": 3}
    assert load_fau_model(tmp_path / "b.pt").train_settings == {}
