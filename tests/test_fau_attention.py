"""Patch attention (facekit.fau.attention): switchable by configuration, shape-preserving, uses the points."""
import numpy as np
import pytest
import torch

from facekit.fau.ablation import attention_table
from facekit.fau.attention import PatchAttention, attention_weights
from facekit.fau.model import FAUConfig, build_fau_model, fau_checkpoint, load_fau_weights


def small_config(**kw):
    return FAUConfig(layers=(1, 1, 1, 1), base_width=8, deconv_filters=(16, 16, 16), input_size=64, **kw)


def points_for(b, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 5, 2, 2, generator=g) * size * 0.6 + size * 0.2


def test_switch_off_by_default_and_on_by_configuration():
    assert not FAUConfig().patch_attention
    assert isinstance(build_fau_model(small_config()).refine, torch.nn.Identity)
    assert isinstance(build_fau_model(small_config(patch_attention=True)).refine, PatchAttention)
    assert FAUConfig.from_dict(small_config(patch_attention=True).to_dict()).patch_attention


@pytest.mark.parametrize("with_points", [False, True])
def test_output_shape_is_unchanged(with_points):
    torch.manual_seed(0)
    x = torch.rand(3, 1, 64, 64)
    base = build_fau_model(small_config()).eval()
    attn = build_fau_model(small_config(patch_attention=True)).eval()
    pts = points_for(3) if with_points else None
    assert attn(x, points=pts).shape == base(x).shape == base(x, points=pts).shape == (3, 10, 16, 16)


def test_untrained_component_is_the_identity_up_to_the_gate_and_points_change_the_output():
    torch.manual_seed(0)
    module = PatchAttention(16, 10, input_size=64).eval()
    feats = torch.rand(2, 16, 16, 16)
    pts = points_for(2)
    out = module(feats, pts)
    assert out.shape == feats.shape
    assert module.last_attention.shape == (2, 10)
    assert ((module.last_attention > 0) & (module.last_attention < 1)).all()
    moved = module(feats, pts.flip(-1))
    assert not torch.allclose(out, moved), "the patches must follow the points"


def test_gradients_reach_the_attention_scores():
    torch.manual_seed(0)
    model = build_fau_model(small_config(patch_attention=True)).train()
    out = model(torch.rand(2, 1, 64, 64), points=points_for(2))
    out.square().mean().backward()
    assert model.refine.encode[0].weight.grad is not None
    assert model.refine.write.weight.grad.abs().sum() > 0


def test_training_points_update_the_default_and_survive_a_checkpoint():
    torch.manual_seed(0)
    model = build_fau_model(small_config(patch_attention=True)).train()
    before = model.refine.default_points.clone()
    model(torch.rand(2, 1, 64, 64), points=points_for(2))
    assert not torch.allclose(before, model.refine.default_points)
    fresh = build_fau_model(small_config(patch_attention=True))
    load_fau_weights(fresh, fau_checkpoint(model))
    assert torch.allclose(fresh.refine.default_points, model.refine.default_points)


def test_baseline_checkpoint_does_not_load_into_the_attention_model_silently():
    base = build_fau_model(small_config())
    with pytest.raises(ValueError, match="Missing keys"):
        load_fau_weights(build_fau_model(small_config(patch_attention=True)), fau_checkpoint(base))


def test_bad_points_say_what_shape_is_expected():
    model = build_fau_model(small_config(patch_attention=True)).eval()
    with pytest.raises(ValueError, match=r"points must be \(2, 10, 2\)"):
        model(torch.rand(2, 1, 64, 64), points=torch.zeros(2, 3, 2))


def test_attention_weights_and_table():
    model = build_fau_model(small_config(patch_attention=True))
    w = attention_weights(model, torch.rand(4, 1, 64, 64), points_for(4))
    assert w.shape == (4, 10)
    table = attention_table(w)
    assert list(table.index) == ["AU6", "AU10", "AU12", "AU14", "AU17"] and list(table.columns) == ["left", "right"]
    with pytest.raises(ValueError, match="no patch attention"):
        attention_weights(build_fau_model(small_config()), torch.rand(1, 1, 64, 64))


def test_bootstrap_difference_is_zero_for_identical_models_and_signed_for_better_ones():
    import numpy as np

    from facekit.fau.ablation import bootstrap_difference

    rng = np.random.default_rng(0)
    truth = rng.uniform(0, 5, (60, 5))
    noisy = truth + rng.normal(0, 1.0, truth.shape)
    same = bootstrap_difference(truth, noisy, noisy, n_boot=50)
    assert same["d_icc"] == 0 and same["d_icc_lo"] == 0 and same["d_mae"] == 0
    better = bootstrap_difference(truth, noisy, truth + rng.normal(0, 0.2, truth.shape), n_boot=50)
    assert better["d_icc"] > 0 and better["d_icc_lo"] > 0 and better["d_mae_hi"] < 0


def test_compare_variants_scores_with_and_without_points():
    import numpy as np

    from facekit.fau.ablation import compare_variants
    from facekit.data import FaceSet

    rng = np.random.default_rng(0)
    data = FaceSet(torch.from_numpy(rng.integers(0, 255, (4, 64, 64), dtype=np.uint8)),
                   au=torch.from_numpy(rng.uniform(0, 5, (4, 5)).astype(np.float32)), aus=(6, 10, 12, 14, 17),
                   points=torch.from_numpy(rng.uniform(10, 50, (4, 5, 2, 2)).astype(np.float32)))
    torch.manual_seed(0)
    base, attn = build_fau_model(small_config()), build_fau_model(small_config(patch_attention=True))
    table, preds = compare_variants({"base": (base, True), "attn": (attn, True), "attn-nolm": (attn, False)},
                                    {"toy": data})
    assert set(table["variant"]) == {"base", "attn", "attn-nolm"} and len(table) == 3 * 6
    assert preds["toy"]["attn"].shape == (4, 5)


@pytest.mark.notebook
def test_patch_attention_notebook_compares_both_models_on_test_and_test2(run_notebook):
    import json

    import pandas as pd

    out = run_notebook("08_patch_attention")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["parameters_patch_attention"] > metrics["parameters_baseline"]
    for s in ("test", "test2", "lab", "wild"):
        for v in ("baseline", "patch_attention", "patch_attention_no_landmarks"):
            assert f"{s}_icc_{v}" in metrics and f"{s}_mae_{v}" in metrics
    boot = pd.read_csv(out / "bootstrap_vs_baseline.csv")
    assert (boot["d_icc_lo"] <= boot["d_icc_hi"]).all()
    table = pd.read_csv(out / "per_au_icc_mae.csv")
    assert {"test", "test2"} <= set(table["set"]) and {"AU6", "AU17", "mean"} <= set(table["au"])
    for name in ("heatmaps_test2.png", "attention_test2.png", "budget.csv"):
        assert (out / name).is_file(), name


def test_seed_runs_pairs_each_seed(tmp_path):
    import pandas as pd

    from facekit.fau.ablation import seed_runs

    rows = [{"seed": s, "patch_attention": pa, "lab_icc": 0.5 + 0.1 * pa + 0.01 * s, "wild_icc": 0.2 - 0.05 * pa,
             "lab_mae": 1.0, "wild_mae": 1.2, "seconds": 1.0} for s in (0, 1) for pa in (False, True)]
    pd.DataFrame(rows).to_csv(tmp_path / "seeds.csv", index=False)
    runs, paired = seed_runs(tmp_path / "seeds.csv")
    assert len(runs) == 4 and list(paired.index) == [0, 1]
    assert paired["lab_icc"].round(6).tolist() == [0.1, 0.1] and paired["wild_icc"].round(6).tolist() == [-0.05, -0.05]
    assert "seconds" not in paired.columns
