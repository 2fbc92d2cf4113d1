"""facekit.emotion.imbalance: the class weights' formula, the balanced sampler, freezing, a seeded tiny run."""
import numpy as np
import pytest
import torch

from facekit.emotion import imbalance as I
from facekit.emotion import answers as A
from facekit.data import FaceSet
from facekit.emotion.train import TrainConfig, Trainer, balanced_order, freeze_layers
from facekit.emotion.xception import MiniXception


def _toy(n=96, seed=0):
    gen = torch.Generator().manual_seed(seed)
    labels = torch.tensor([3] * (n // 2) + [0] * (n // 4) + [1] * (n // 8) + [6] * (n - n // 2 - n // 4 - n // 8))
    images = torch.randint(0, 256, (n, 48, 48), dtype=torch.uint8, generator=gen)
    images[labels == 3, 30:40, 14:34] = 255  # a learnable "smile"
    usage = torch.tensor([0, 0, 1, 2] * (n // 4))
    return FaceSet(images, emotion=labels, usage=usage, source="toy")


def test_class_weights_formula():
    w = I.class_weights(torch.tensor([0, 0, 0, 1]), num_classes=3)
    # N / (K n_c): 4 / (3*3), 4 / (3*1), absent class -> 0
    np.testing.assert_allclose(w.numpy(), [4 / 9, 4 / 3, 0.0], rtol=1e-6)


def test_balanced_order_evens_out_classes():
    labels = torch.tensor([0] * 900 + [1] * 100)
    order = balanced_order(labels, 20000, torch.Generator().manual_seed(0))
    share = (labels[order] == 1).float().mean().item()
    assert 0.47 < share < 0.53


def test_freeze_and_unknown_layer():
    model = MiniXception()
    freeze_layers(model, ["stem", "block1"])
    assert not any(p.requires_grad for p in model.stem.parameters())
    assert all(p.requires_grad for p in model.block2.parameters())
    with pytest.raises(ValueError, match="block1"):
        freeze_layers(model, ["block7"])


def test_unknown_method():
    with pytest.raises(ValueError, match="reweight"):
        I.ImbalanceConfig(method="oversample")


@pytest.mark.parametrize("method", ["reweight", "finetune"])
def test_tiny_run_is_seeded_and_keeps_frozen_weights(method):
    data = _toy()
    torch.manual_seed(0)
    start = MiniXception()
    cfg = I.ImbalanceConfig(method=method, epochs=1, batch_size=16, max_steps=3)
    a, hist = I.train_imbalance(data, start, cfg, progress=False)
    b, _ = I.train_imbalance(data, start, cfg, progress=False)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    assert len(hist) == 1 and np.isfinite(hist["train_loss"]).all()
    changed = not torch.equal(a.block4.sep1.pointwise.weight, start.block4.sep1.pointwise.weight)
    assert changed
    if method == "finetune":
        assert torch.equal(a.stem.conv1.weight, start.stem.conv1.weight)
        assert torch.equal(a.stem.bn1.running_mean, start.stem.bn1.running_mean)
    table = I.before_after_table({"before": start, "after": a}, data)
    assert list(table.columns) == ["before", "after"] and "recall disgust" in table.index


def check_imbalance_outputs(out, method="reweight"):
    """What notebooks/04_imbalance.ipynb promises to write."""
    import json

    import pandas as pd

    table = pd.read_csv(out / "before_after.csv", index_col=0)
    assert list(table.columns) == ["before", "after", "control"]
    for row in ("recall disgust", "recall happy", "macro-F1", "balanced accuracy", "private accuracy"):
        assert table.loc[row].between(0, 1).all(), row
    for rel in ("before_after.png", "test2/guided_gradcam.jpg"):
        assert (out / rel).stat().st_size > 5000, rel
    weights = pd.read_csv(out / "class_counts_weights.csv", index_col=0)["weight"]
    assert weights["disgust"] > weights["neutral"] > weights["happy"]  # w_c = N / (K n_c)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["method"] == method and metrics["after"]["recall disgust"] == table.loc["recall disgust", "after"]
    cases = pd.read_csv(out / "test2_before_after.csv")
    assert set(cases["model"]) == {"before", "after", "control"}
    shares = cases[["share_upper_face", "share_mid_face", "share_mouth", "share_outside_the_face"]].dropna()
    assert ((shares.sum(axis=1) - 1).abs() < 1e-6).all() and "no_face_found" in cases
    assert "@" in metrics["explainer"]


@pytest.mark.notebook
def test_imbalance_notebook_writes_before_after(run_notebook):
    import json

    run_notebook("02_emotion_training")  # writes this session's emotion_minixception.pt (else: the shipped one)
    out = run_notebook("04_imbalance")
    check_imbalance_outputs(out)
    chosen_in_03 = json.loads((run_notebook("03_gradcam") / "metrics.json").read_text())["explainer"]
    assert json.loads((out / "metrics.json").read_text())["explainer"] == chosen_in_03  # 04 uses 03's explainer


@pytest.mark.notebook
def test_imbalance_notebook_transfer_from_real_fer(run_notebook):
    check_imbalance_outputs(run_notebook("04_imbalance", METHOD="transfer"), method="transfer")


def _answer_inputs():
    import pandas as pd

    rows = ["recall disgust", "predicted disgust", "precision disgust", "macro-F1", "balanced accuracy",
            "private accuracy"]
    table = pd.DataFrame({"before": [0.1, 5, 0.4, 0.3, 0.3, 0.5], "after": [0.35, 40, 0.3, 0.33, 0.36, 0.49],
                          "control": [0.12, 6, 0.4, 0.31, 0.31, 0.5]}, index=rows)
    counts = pd.DataFrame({"Training": [436], "PublicTest": [56], "PrivateTest": [55]}, index=["disgust"])
    cases = pd.DataFrame({"model": ["before", "after"], "correct": [False, True]})
    return table, counts, cases


def test_answer_text_uses_the_numbers():
    table, counts, cases = _answer_inputs()
    text = A.before_after_text(table, counts, cases, "reweight", 0.25, 2)
    assert "10.0% -> 35.0% (+25.0 pp)" in text and "+23.0 pp disgust recall" in text
    assert "only 55 disgust faces" in text and "interval of 23%-48%" in text  # Wilson, 19 of 55
    assert "(109 disgust faces)" in text and "never predicts disgust" not in text
    table.loc[["recall disgust", "predicted disgust", "precision disgust"], "after"] = [0.0, 0, float("nan")]
    text = A.before_after_text(table, counts, cases, "reweight", 0.25, 2)
    assert "never predicts disgust" in text and "n/a (no face called disgust)" in text and "0%-7%" in text


def test_trainer_weights_the_loss_and_keeps_frozen_batchnorm_statistics():
    data = _toy()
    cfg = TrainConfig(epochs=1, batch_size=16, max_steps=2, class_weights=(1.0, 5.0, 1.0, 0.5, 1.0, 1.0, 1.0),
                      balanced_sampling=True, freeze=("stem",))
    trainer = Trainer(data, cfg, progress=False)
    stats = trainer.model.stem.bn1.running_mean.clone()
    weight = trainer.model.stem.conv1.weight.detach().clone()
    trainer.train_epoch()
    assert torch.equal(trainer.model.stem.bn1.running_mean, stats), "a frozen layer's BatchNorm statistics moved"
    assert torch.equal(trainer.model.stem.conv1.weight, weight), "a frozen layer's weights moved"
    assert trainer.loss_weight.tolist()[1] == 5.0
    assert all(p.requires_grad for group in trainer.optimizer.param_groups for p in group["params"])


def test_bn_refresh_re_estimates_the_statistics_of_trained_layers_only():
    data = _toy()
    torch.manual_seed(0)
    start = MiniXception()
    cfg = I.ImbalanceConfig(method="finetune", epochs=1, batch_size=16, max_steps=3)
    fresh, _ = I.train_imbalance(data, start, cfg, progress=False)
    stale, _ = I.train_imbalance(data, start, I.ImbalanceConfig(**{**cfg.__dict__, "bn_refresh": False}),
                                 progress=False)
    assert not torch.equal(fresh.block4.bn1.running_mean, stale.block4.bn1.running_mean)
    for name in ("stem", "block1", "block2"):  # frozen: the statistics they started with
        before, after = getattr(start, name).state_dict(), getattr(fresh, name).state_dict()
        assert all(torch.equal(after[k], before[k]) for k in before if "running" in k), name
    for (k, a), b in zip(fresh.state_dict().items(), stale.state_dict().values()):
        if "running" not in k and "num_batches" not in k:
            assert torch.equal(a, b), k   # weights untouched by the refresh


def _spread(d_recall, d_f1):
    import pandas as pd

    return pd.DataFrame({"seed": range(len(d_recall)), "d_recall": d_recall, "d_macro_f1": d_f1,
                         "after_recall_disgust": [0.3 + r for r in d_recall]})


def test_spread_verdict_stands_only_when_every_seed_agrees():
    agree = A.spread_verdict(_spread([0.3, 0.45, 0.2], [0.02, 0.01, 0.03]), "reweight")
    assert "**supported** in every seed" in agree and "+20.0 pp to +45.0 pp" in agree and "seeds 0, 1, 2" in agree
    against = A.spread_verdict(_spread([0.3, 0.47], [-0.02, -0.035]), "reweight")
    assert "**not supported** in any seed" in against and "-0.035 to -0.020" in against
    assert "buys it with the other classes" in against
    assert "buys" not in A.spread_verdict(_spread([-0.1, 0.2], [-0.02, -0.03]), "reweight")
    split = A.spread_verdict(_spread([0.3, 0.1, 0.2], [0.02, -0.03, 0.01]), "reweight")   # one seed reverses it
    assert "**disagree** (not supported, supported)" in split and "evidence for reweight is mixed" in split
    assert "spread over seeds is unknown" in A.spread_verdict(_spread([0.3], [0.02]), "reweight")
    assert A.fix_kind(0.3, -0.02) == "not supported" and "buys the rare class" in A.fix_verdict(0.3, -0.02, "x")
    assert "buys" not in A.fix_verdict(-0.1, -0.02, "x")


def test_answer_text_takes_the_verdict_from_the_seeds():
    table, counts, cases = _answer_inputs()
    one = A.before_after_text(table, counts, cases, "reweight", 0.25, 2)
    assert "is **supported** by this run" in one and "(one seed, one run)" in one
    spread = _spread([0.23, -0.05], [0.02, -0.04])   # this run's seed agrees with the table, the next does not
    text = A.before_after_text(table, counts, cases, "reweight", 0.25, 2, spread=spread)
    assert "**disagree**" in text and "by this run" not in text and "2 seeds give disgust recalls from 25% to 53%" in text
