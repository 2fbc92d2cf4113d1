"""facekit.explain: the grad-cam wrapper (shapes, ranges, hooks released, ReLUs restored) and the region scores."""
import numpy as np
import pytest
import torch
from torch import nn

from facekit import explain as E
from facekit.emotion.xception import MiniXception, preprocess


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MiniXception().eval()


@pytest.fixture(scope="module")
def x():
    gen = torch.Generator().manual_seed(1)
    return preprocess(torch.randint(0, 256, (4, 48, 48), dtype=torch.uint8, generator=gen))


@pytest.mark.parametrize("method,layer,grid", [("gradcam", "last_conv", 3), ("gradcam", "block3", 6),
                                               ("hirescam", "block2", 11), ("gradcam++", "block3", 6)])
def test_cam_shape_range_and_no_hooks_left(model, x, method, layer, grid):
    cams = E.compute_cams(model, x, targets=[0, 1, 2, 3], method=method, layer=layer)
    assert cams.shape == (4, 48, 48) and cams.dtype == np.float32
    assert cams.min() >= 0 and cams.max() <= 1 + 1e-6
    assert E.hooks_attached(model) == 0
    with torch.no_grad():
        acts = {}
        handle = E.target_layer(model, layer).register_forward_hook(lambda m, i, o: acts.setdefault("a", o))
        model(x[:1])
        handle.remove()
    assert acts["a"].shape[-1] == grid  # the CAM's native resolution that gets upsampled


def test_cams_are_deterministic(model, x):
    a = E.compute_cams(model, x, method="gradcam", layer="block3")
    b = E.compute_cams(model, x, method="gradcam", layer="block3")
    np.testing.assert_array_equal(a, b)


def test_hooks_released_after_a_failure(model, x):
    with pytest.raises(Exception):
        E.compute_cams(model, x, targets=[99, 99, 99, 99])  # no class 99: fails inside the CAM's with block
    assert E.hooks_attached(model) == 0


def test_guided_backprop_restores_model(model, x):
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    model.train()
    gb = E.guided_backprop(model, x, targets=[3, 3, 3, 3])
    assert gb.shape == (4, 48, 48) and np.isfinite(gb).all() and np.abs(gb).sum() > 0
    assert model.training  # mode restored
    assert [m for m in model.modules() if isinstance(m, nn.ReLU)] == relus  # the very same ReLU objects
    assert all(p.grad is None for p in model.parameters())
    model.eval()


def test_guided_gradcam_bundle(model, x):
    expl = E.guided_gradcam(model, x, method="gradcam", layer="block3")
    assert expl.faces.shape == (4, 48, 48) and expl.faces.dtype == np.uint8
    np.testing.assert_allclose(expl.probs.sum(1), 1, rtol=1e-5)
    np.testing.assert_array_equal(expl.target, expl.pred)
    np.testing.assert_allclose(expl.ggc, expl.gb * expl.cam)


def test_region_share_inside_outside_and_chance():
    mask = np.zeros((2, 10, 10), bool)
    mask[:, 2:5, 2:5] = True
    inside = np.zeros((2, 10, 10))
    inside[:, 3, 3], inside[:, 2, 4] = 1.0, 0.5
    outside = np.zeros((2, 10, 10))
    outside[:, 8, 8] = 1.0
    np.testing.assert_allclose(E.region_share(inside, mask), [1.0, 1.0])
    np.testing.assert_allclose(E.region_share(outside, mask), [0.0, 0.0])
    np.testing.assert_allclose(E.region_share(np.ones((2, 10, 10)), mask), E.mask_area(mask))
    assert np.isnan(E.region_share(np.zeros((1, 10, 10)), mask[:1])[0])
    assert E.pointing_game(inside, mask).tolist() == [True, True]
    assert E.pointing_game(outside, mask).tolist() == [False, False]
    assert E.pointing_game(np.zeros((1, 10, 10)), mask[:1]).tolist() == [False]  # an empty map points nowhere


def test_shape_mismatch_and_bad_names_explain_themselves(model, x):
    with pytest.raises(ValueError, match="same"):
        E.region_share(np.zeros((2, 10, 10)), np.zeros((2, 9, 9), bool))
    with pytest.raises(ValueError, match="block3"):
        E.compute_cams(model, x, layer="block9")
    with pytest.raises(ValueError, match="gradcam"):
        E.compute_cams(model, x, method="magiccam")
    with pytest.raises(ValueError, match="preprocess"):
        E.compute_cams(model, torch.zeros(4, 48, 48, dtype=torch.uint8))


def test_road_and_score_table(model, x):
    masks = np.zeros((4, 48, 48), bool)
    masks[:, 10:30, 10:30] = True
    table = E.score_explanations(model, x, [0, 1, 0, 1], masks, methods=[("gradcam", "block3")],
                                 class_names=("a", "b"), road_n=2, road_percentiles=(50,))
    assert len(table) == 4 and set(table["emotion"]) == {"a", "b"}
    assert table["road"].notna().sum() == 2 and np.isfinite(table["road"].dropna()).all()
    assert table["region_share"].between(0, 1).all()
    summary = E.summarize_scores(table)
    assert "all" in set(summary["emotion"])


def check_gradcam_outputs(out):
    """What notebooks/03_gradcam.ipynb promises to write (also used by hand on a full run's folder)."""
    import json

    import pandas as pd

    for rel in ("test/guided_gradcam.jpg", "test2/guided_gradcam.jpg", "test2/guided_gradcam_real_fer_model.jpg",
                "cam_methods_layers.png", "cam_region_scores.png"):
        assert (out / rel).stat().st_size > 5000, rel
    summary = pd.read_csv(out / "cam_region_scores.csv")
    assert {"method", "layer", "emotion", "region_share", "pointing_hit", "chance", "road"} <= set(summary.columns)
    assert summary["region_share"].dropna().between(0, 1).all() and summary["pointing_hit"].between(0, 1).all()
    assert summary["empty_cam"].between(0, 1).all()
    pairs = set(zip(summary["method"], summary["layer"]))
    assert {("gradcam", "last_conv"), ("gradcam", "block3"), ("hirescam", "block3")} <= pairs
    assert summary.loc[summary["emotion"] == "all", "road"].notna().all()
    assert "neutral" not in set(summary["emotion"])
    cases = pd.read_csv(out / "test2_cases.csv")
    assert set(cases["model"]) == {"synthetic", "real-FER2013"}
    assert (cases["kind"] == "real photo").sum() == 10
    real = cases[(cases["model"] == "real-FER2013") & (cases["kind"] == "real photo") & (cases["true"] == "happy")]
    assert len(real) == 2 and (real["pred"] == "happy").all()  # the converted real-data model sees the smiles
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 <= metrics["test_accuracy"] <= 1 and 0 <= metrics["held_out_accuracy"] <= 1
    assert "gradcam@last_conv" in metrics["region_share"] and "hirescam@block3" in metrics["pointing_game"]
    assert set(metrics["test2_accuracy"]) == {"synthetic", "real-FER2013"}
    for rel in ("test/guided_gradcam_last_conv.jpg", "test2/guided_gradcam_last_conv.jpg", "randomisation_check.png"):
        assert (out / rel).stat().st_size > 5000, rel  # the assignment's layer beside the chosen one; sanity check
    validation = pd.read_csv(out / "explainer_validation.csv")  # the choice's own faces, not test/test2
    chosen = validation[validation["emotion"] == "all"].set_index(["method", "layer"])["region_share"].idxmax()
    assert metrics["explainer"] == "@".join(chosen)
    assert -1 <= metrics["randomisation_top2_gb_rank_corr"] <= 1 and -1 <= metrics["randomisation_top2_cam_rank_corr"] <= 1


@pytest.mark.notebook
def test_gradcam_notebook_writes_rows_tables_and_scores(run_notebook):
    run_notebook("02_emotion_training")  # writes this session's emotion_minixception.pt (else: the shipped one)
    check_gradcam_outputs(run_notebook("03_gradcam"))


def test_plots_return_figures_and_browser_only_browses():
    import matplotlib

    matplotlib.use("Agg")
    from facekit.explain import plots as P

    torch.manual_seed(0)
    model = MiniXception().eval()
    x = preprocess(torch.randint(0, 256, (2, 48, 48), dtype=torch.uint8))
    expl = E.guided_gradcam(model, x, layer="block3")
    fig = P.plot_guided_gradcam(expl, ["a", "b"], ["happy", None], title="t")
    assert len(fig.axes) == 8
    cams = {"gradcam @ block3": expl.cam}
    browser = P.browse_cams(expl.faces, cams, ["a", "b"])
    browser.children[0].children[0].value = 1  # moving the slider redraws from the stored maps
    assert cams["gradcam @ block3"] is expl.cam


def test_answer_texts_compute_their_numbers():
    import pandas as pd

    from facekit.emotion import answers as A

    rows = [("gradcam", "last_conv", "happy", 0.6, 0.5, 0.1, 0.3, 0.01), ("gradcam", "last_conv", "disgust", np.nan,
            0.0, 1.0, 0.3, 0.0), ("gradcam", "last_conv", "all", 0.6, 0.25, 0.55, 0.3, 0.005),
            ("hirescam", "block3", "all", 0.7, 0.8, 0.0, 0.3, 0.02)]
    summary = pd.DataFrame(rows, columns=["method", "layer", "emotion", "region_share", "pointing_hit", "empty_cam",
                                          "chance", "road"])
    test = pd.DataFrame({"face": ["happy"], "pred": ["happy"], "prob": [0.9], "correct": [True]})
    text = A.test_answer_text(test, summary, 0.5, 12)
    assert "**1 of 1**" in text and "**60%**" in text and "above the 30%" in text and "55% of its maps" in text
    assert "best for happy" in text and "hirescam @ block3" in text and "nan" not in text
