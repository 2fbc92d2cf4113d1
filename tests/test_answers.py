"""Every computed conclusion flips when the numbers say the opposite (issue 16): each rule gets one set of numbers
and a contrary set, and the text must change its verdict."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from facekit.fau import answers as fa
from facekit.emotion import answers as A
from facekit.emotion import imbalance as I
from facekit.explain import cases as C
from facekit.fau import ablation, fewshot
from facekit.fau.demo import real_photo_au_text


def _history(private):
    n = len(private)
    return pd.DataFrame({"epoch": range(1, n + 1), "public_acc": np.linspace(0.3, 0.6, n),
                         "private_acc": private})


def test_convergence_reports_last_picked_and_spread():
    swinging = _history([0.40, 0.45, 0.502, 0.486, 0.587, 0.511, 0.553])
    conv = A.convergence(swinging)
    assert conv.last_epoch == 7 and conv.picked_epoch == 7 and conv.window == 5
    assert conv.spread == pytest.approx(0.587 - 0.486) and not conv.converged
    assert "has not settled" in A.convergence_text(conv, "constant")
    settled = A.convergence(_history([0.40, 0.50, 0.58, 0.585, 0.59, 0.588, 0.592]))
    assert settled.converged and settled.spread == pytest.approx(0.012)
    text = A.convergence_text(settled, "cosine")
    assert "has settled" in text and "1.2 points" in text
    short = A.convergence(_history([0.4, 0.5]))
    assert "too short" in A.convergence_text(short, "cosine") and short.metrics()["converged"] is None
    assert json.dumps(settled.metrics())  # plain values, ready for metrics.json


def test_overfitting_needs_a_gap_and_a_rising_test_loss():
    assert "no sign of overfitting" in A.fit_text(0.594, 0.587, 1.10, 1.09)  # the numbers
    assert "**overfits**" in A.fit_text(0.80, 0.60, 1.30, 1.00)
    gap_only = A.fit_text(0.80, 0.60, 1.00, 1.00)
    assert "generalisation gap" in gap_only and "overfits" not in gap_only


def test_bn_momentum_verdict_follows_the_difference():
    assert "no measurable difference" in A.bn_momentum_text(0.587, 0.597, 3589)  # the "bug" scored higher
    assert "**hurts**" in A.bn_momentum_text(0.587, 0.40, 3589)
    assert "even scores **higher**" in A.bn_momentum_text(0.50, 0.60, 3589)


STRESS = {"wild_subtle_sad": "subtle sadness (trace level)", "wild_harsh_light_happy": "harsh side light",
          "wild_pose_surprise": "strong head pose"}
#: CAM shares (upper face, mid face, mouth, outside the face) of a map on the eyes, on the mouth, off the face.
EYES, MOUTH, OFF = (0.7, 0.1, 0.1, 0.1), (0.1, 0.1, 0.7, 0.1), (0.1, 0.05, 0.05, 0.8)


def _case_rows(model, kind, faces, correct, probs=None, shares=EYES, no_face=False):
    probs = probs or [0.7] * len(faces)
    return [{"model": model, "face": f, "kind": kind, "true": "happy", "pred": "happy" if c else "sad", "prob": p,
             "p_true": 0.6 if c else 0.1, "correct": c, "upper_face_share": shares[0],
             **dict(zip(C.REGION_COLUMNS, shares)), "no_face_found": no_face, "stress": STRESS.get(f, "")}
            for f, c, p in zip(faces, correct, probs)]


def test_failure_text_blames_only_the_cases_that_failed():
    folder = ["wild_subtle_sad", "wild_harsh_light_happy", "wild_pose_surprise"]
    real = ["astronaut", "photo_b"]
    rows = (_case_rows("synthetic", "folder", folder, [False, True, True])
            + _case_rows("synthetic", "real photo", real, [True, False], [0.5, 0.5])
            + _case_rows("real-FER2013", "folder", folder, [False, False, True])
            + _case_rows("real-FER2013", "real photo", real, [True, False], [0.9, 0.9]))
    text = A.failure_answer_text(pd.DataFrame(rows))
    failed_part = text.split("It gets right")[0]
    assert "subtle" in failed_part and "harsh" not in failed_part and "pose" not in failed_part
    assert "harsh side light" in text.split("It gets right")[1]  # handled, not blamed
    assert "no accuracy gap" in text and "more confident" in text
    # contrary numbers: the light case fails and the real-FER2013 model wins on the photos
    rows = (_case_rows("synthetic", "folder", folder, [True, False, True])
            + _case_rows("synthetic", "real photo", real, [False, False])
            + _case_rows("real-FER2013", "folder", folder, [True, True, True])
            + _case_rows("real-FER2013", "real photo", real, [True, True]))
    text = A.failure_answer_text(pd.DataFrame(rows))
    assert "harsh side light" in text.split("It gets right")[0] and "no accuracy gap" not in text
    assert "real-FER2013 model is ahead by 2" in text


def _before_after(after_recalls, control=None):
    names = ["angry", "happy", "neutral", "disgust"]
    t = pd.DataFrame({"before": [0.46, 0.80, 0.50, 0.10]}, index=[f"recall {n}" for n in names])
    t["after"] = after_recalls
    if control is not None:
        t["control"] = control
    return t


def test_recall_shift_names_the_classes_that_paid():
    text = A.recall_shift_text(_before_after([0.53, 0.80, 0.19, 0.30]))  # the case: neutral fell
    assert "neutral (50% -> 19%)" in text.split("paid")[1] and "angry (46% -> 53%)" in text.split("paid")[0]
    text = A.recall_shift_text(_before_after([0.46, 0.81, 0.50, 0.30]))
    assert "no class paid" in text and "disgust" in text
    # with a control run the reference is the control, not the model before
    text = A.recall_shift_text(_before_after([0.53, 0.80, 0.19, 0.30], control=[0.53, 0.80, 0.19, 0.12]))
    assert "against the control run" in text and "no class paid" in text


def test_method_answer_names_the_method_and_why():
    counts = pd.DataFrame({"Training": [3995, 436, 7215]}, index=["angry", "disgust", "happy"])
    text = A.method_answer_text("reweight", counts, control=True)
    assert "**reweight**" in text and "17x" in text and "control run" in text  # 7215 / 436 = 16.5
    text = A.method_answer_text("finetune", counts, control=False)
    assert "**finetune**" in text and "balanced sampler" in text and "CONTROL = False" in text
    with pytest.raises(ValueError, match="METHOD"):
        A.method_answer_text("magic", counts, control=True)


def test_fewshot_loss_trend_and_verdicts_flip():
    assert "**does not fall**" in fa.loss_trend_text(0.0392, 0.0399, 0.046, 0.044)  # the run
    assert "**falls**" in fa.loss_trend_text(0.050, 0.030, 0.046, 0.030)
    assert "**rises**" in fa.loss_trend_text(0.030, 0.050, 0.046, 0.060)
    assert "(unchanged)" in fa.change_text("test2", "icc", 0.380, 0.3798)
    assert "(**worse**)" in fa.change_text("test", "mae", 0.390, 0.413)
    assert "(better)" in fa.change_text("test", "mae", 0.413, 0.390)
    assert "(better)" in fa.change_text("wild", "icc", 0.32, 0.39)
    summary = pd.DataFrame({"before": [0.38, 0.39], "after_mean": [0.38, 0.41]}, index=["test2_icc", "test_mae"])
    assert fa.verdicts_text(summary, ["test2", "test"]).count("test") == 2


def test_attention_studies_reconciled_by_rule():
    boot = {"d_icc": 0.017, "d_icc_lo": 0.005, "d_icc_hi": 0.028}  # the lab numbers
    assert "**They disagree**" in fa.reconcile_text("lab", boot, [-0.013, -0.017, -0.110])
    assert "**They agree**" in fa.reconcile_text("lab", boot, [0.013, 0.017, 0.110])
    assert "**They do not agree**" in fa.reconcile_text("lab", boot, [0.013, -0.017, 0.11])
    zero = {"d_icc": 0.009, "d_icc_lo": -0.02, "d_icc_hi": 0.04}
    assert "**Both find no reliable difference**" in fa.reconcile_text("wild", zero, [0.01, -0.02, 0.02])
    assert "not resolved by one run" in fa.reconcile_text("wild", zero, [0.013, 0.018, 0.020])


def test_real_photo_au6_bias_flips():
    names = ["astronaut", "su", "hao", "anc", "di"]
    labels = ["happy", "surprise", "happy", "angry", "disgust"]
    biased = pd.DataFrame({"AU6": [3.43, 3.26, 3.67, 2.71, 1.31]}, index=names)
    text = real_photo_au_text(biased, labels)
    assert "**4 of 5**" in text and "whatever the expression" in text and "su (surprise)" in text
    clean = pd.DataFrame({"AU6": [3.4, 0.3, 3.6, 0.5, 0.2]}, index=names)
    text = real_photo_au_text(clean, labels)
    assert "no sign of a bias" in text and "whatever the expression" not in text
    partial = pd.DataFrame({"AU6": [3.4, 2.1, 3.6, 0.5, 0.2]}, index=names)
    assert "partial bias" in real_photo_au_text(partial, labels)


def test_metrics_json_paths_are_repo_relative(tmp_path):
    import facekit as fk
    from facekit.paths import repo_root

    inside = repo_root() / "build" / "checkpoints" / "model.pt"
    outside = tmp_path / "elsewhere.pt"
    path = fk.save_metrics({"checkpoint": inside, "nested": {"p": [inside]}, "outside": outside, "n": 1},
                           out_dir=tmp_path)
    saved = json.loads(Path(path).read_text())
    assert saved["checkpoint"] == "build/checkpoints/model.pt" and saved["nested"]["p"] == [saved["checkpoint"]]
    assert saved["outside"] == str(outside) and saved["n"] == 1
    # notebooks often pass str(path): an absolute string inside the repository is made relative too
    path = fk.save_metrics({"checkpoint": str(inside), "outside": str(outside), "name": "fau_resnet.pt"},
                           out_dir=tmp_path)
    saved = json.loads(Path(path).read_text())
    assert saved == {"checkpoint": "build/checkpoints/model.pt", "outside": str(outside), "name": "fau_resnet.pt"}


def test_explainer_choice_reads_no_test_folder(monkeypatch):
    import torch

    from facekit.data import faces
    from facekit.emotion import MiniXception
    from facekit.explain import sanity

    def forbidden(*args, **kwargs):
        raise AssertionError("the explainer choice read data/test or data/test2")

    monkeypatch.setattr(faces, "load_face_folder", forbidden)
    monkeypatch.setattr(C, "load_cases", forbidden)
    torch.manual_seed(0)
    choice, summary = sanity.select_explainer(MiniXception().eval(), [("gradcam", "last_conv"), ("hirescam", "block3")],
                                              n_per_class=1, seed=5)
    overall = summary[summary["emotion"] == "all"].set_index(["method", "layer"])
    assert choice["score"] == pytest.approx(overall["region_share"].max())
    assert (choice["method"], choice["layer"]) == overall["region_share"].idxmax()


def test_choose_explainer_and_its_text_follow_the_scores():
    from facekit.explain import sanity

    summary = pd.DataFrame({"method": ["gradcam", "hirescam"], "layer": ["last_conv", "block3"],
                            "emotion": ["all", "all"], "region_share": [0.56, 0.70], "chance": [0.45, 0.45]})
    choice = sanity.choose_explainer(summary)
    assert (choice["method"], choice["layer"]) == ("hirescam", "block3") and "blob" in sanity.choice_text(choice, 10)
    summary["region_share"] = [0.80, 0.70]
    choice = sanity.choose_explainer(summary)
    assert choice["layer"] == "last_conv" and "same maps" in sanity.choice_text(choice, 10)
    assert sanity.parse_explainer("hirescam@block3") == ("hirescam", "block3")
    assert sanity.parse_explainer("block2") == ("gradcam", "block2")


def test_randomisation_check_runs_and_its_verdict_flips():
    import torch

    from facekit.emotion import MiniXception
    from facekit.explain import hooks_attached, sanity

    torch.manual_seed(0)
    model = MiniXception().eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(2, 1, 48, 48) * 2 - 1
    table = sanity.randomisation_check(model, x, method="gradcam", layer="block3", cascade=("last_conv", "block4"))
    assert list(table["randomised"]) == ["none", "last_conv", "block4"]
    assert table[["gb_rank_corr", "cam_rank_corr"]].iloc[0].tolist() == [1.0, 1.0]
    assert table[["gb_rank_corr", "cam_rank_corr"]].abs().le(1 + 1e-9).all().all()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "the trained model was changed"
    assert hooks_attached(model) == 0
    a = np.random.default_rng(0).random((3, 8, 8))
    assert np.allclose(sanity.rank_correlation(a, a * 2 + 1), 1) and np.allclose(sanity.rank_correlation(a, -a), -1)
    stays = pd.DataFrame({"step": [0, 1, 2], "randomised": ["none", "last_conv", "block4"],
                          "gb_rank_corr": [1, 0.9, 0.8], "cam_rank_corr": [1, 0.2, 0.1]})
    text = sanity.randomisation_text(stays, "Grad-CAM")
    assert "guided backprop **hardly changes**" in text and "Grad-CAM **changes**" in text
    flipped = stays.assign(gb_rank_corr=[1, 0.2, 0.1], cam_rank_corr=[1, 0.9, 0.8])
    text = sanity.randomisation_text(flipped, "Grad-CAM")
    assert "guided backprop **changes**" in text and "Grad-CAM **hardly changes**" in text


def test_fix_verdict_flips_with_the_control_difference():
    assert "**supported**" in A.fix_verdict(0.20, 0.03, "reweight")
    assert "**not support**" in A.fix_verdict(0.20, -0.03, "reweight")
    assert "**mixed**" in A.fix_verdict(-0.01, 0.001, "reweight")


def test_large_rate_overfitting_claim_flips():
    assert "**overfit**" in fa.large_rate_text(5e-3, 0.80, 0.93)
    assert "does not hurt" in fa.large_rate_text(5e-3, 0.94, 0.93)


def test_trainer_schedule_cosine_decays_and_constant_keeps_the_starter_rate():
    import torch

    from facekit.data import FaceSet
    from facekit.emotion import TrainConfig, Trainer
    from facekit.emotion.train import scheduled_lr

    assert scheduled_lr(0.01, "constant", 0.7) == 0.01
    assert scheduled_lr(0.01, "cosine", 0.0) == pytest.approx(0.01) and scheduled_lr(0.01, "cosine", 1.0) == 0
    assert scheduled_lr(0.01, "cosine", 0.5) == pytest.approx(0.005)
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="plateau-ish")
    g = torch.Generator().manual_seed(0)
    n = 24
    data = FaceSet(torch.randint(0, 256, (n, 48, 48), dtype=torch.uint8, generator=g),
                   emotion=torch.arange(n) % 7, usage=torch.tensor([0] * 16 + [1] * 4 + [2] * 4), source="toy")
    cos = Trainer(data, TrainConfig(epochs=3, batch_size=8), progress=False).fit()
    assert cos["lr"].is_monotonic_decreasing and cos["lr"].iloc[-1] < 0.01 * 0.1
    const = Trainer(data, TrainConfig(epochs=2, batch_size=8, schedule="constant"), progress=False).fit()
    assert (const["lr"] == 0.01).all()


def test_committed_metrics_hold_no_absolute_path():
    """A metrics file names files relative to the repository: an absolute path is this machine's, not the reader's."""
    root = Path(__file__).resolve().parents[1]

    def strings(value):
        if isinstance(value, dict):
            yield from (s for v in value.values() for s in strings(v))
        elif isinstance(value, list):
            yield from (s for v in value for s in strings(v))
        elif isinstance(value, str):
            yield value

    found = {f.relative_to(root).as_posix(): s for f in root.glob("figures/*/metrics.json")
             for s in strings(json.loads(f.read_text())) if os.path.isabs(s)}
    assert not found, f"absolute paths in committed metrics: {found}"
