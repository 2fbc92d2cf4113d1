"""Task 1's answer rules (issue 34): every rule gets numbers and contrary numbers, and the words must change; the
face-region measurements behind the Q1.5 "why" and the figure notes are checked on made-up maps."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from facekit.data import EMOTIONS, FaceSet
from facekit.emotion import answers as A
from facekit.emotion import imbalance as I
from facekit.explain import cases as C
from facekit.explain import plots as P
from facekit.explain import sanity

# --- compute: face regions -----------------------------------------------------------------------------------------


def test_face_regions_partition_the_crop_and_shares_follow_the_map():
    masks = C.face_region_masks(48)
    assert masks.shape == (4, 48, 48) and (masks.sum(0) == 1).all()       # every pixel in exactly one region
    corner = np.zeros((1, 48, 48))
    corner[0, :4, :4] = 1                                                   # background, top-left corner
    eyes = np.zeros((1, 48, 48))
    eyes[0, 14:17, 12:36] = 1
    shares = C.cam_region_shares(np.concatenate([corner, eyes, np.zeros((1, 48, 48))]))
    assert shares[0, C.FACE_REGIONS.index("outside the face")] == pytest.approx(1)
    assert shares[1, C.FACE_REGIONS.index("upper face")] == pytest.approx(1)
    assert np.isnan(shares[2]).all()                                        # an empty map has no shares
    assert C.emotion_face_regions("happy") == ("upper face", "mouth") and C.emotion_face_regions("neutral") == ()
    assert "mid face" in C.emotion_face_regions("disgust")                  # AU9, the nose wrinkler


def test_label_noise_counts_the_swaps_and_is_none_without_clean_labels():
    emotion = torch.tensor([0, 0, 1, 1, 1, 3, 3, 3])
    clean = torch.tensor([0, 1, 1, 1, 0, 3, 3, 3])
    data = FaceSet(torch.zeros(8, 48, 48, dtype=torch.uint8), emotion=emotion, clean_emotion=clean,
                   usage=torch.zeros(8, dtype=torch.int64))
    noise = I.label_noise(data)
    assert noise["rate"] == pytest.approx(2 / 8) and noise["n"] == 8
    assert noise["into"]["disgust"] == pytest.approx(1 / 3) and noise["into"]["happy"] == 0
    assert set(noise["pairs"].index) == {("disgust", "angry"), ("angry", "disgust")}
    assert I.label_noise(FaceSet(data.images, emotion=emotion, usage=data.usage)) is None


# --- Q1.3: neutral as a sink ---------------------------------------------------------------------------------------

def _cm(to_neutral: dict) -> pd.DataFrame:
    names = ["angry", "disgust", "sad", "neutral"]
    cm = pd.DataFrame(np.eye(4) * 0.7, index=names, columns=names)
    for c, v in to_neutral.items():
        cm.loc[c, "neutral"] = v
    return cm


def test_neutral_is_called_a_sink_only_when_classes_drain_into_it():
    text = A.neutral_sink_text(_cm({"angry": 0.21, "sad": 0.20, "disgust": 0.05}))
    assert "**Neutral acts as a sink**" in text and "21% of angry, 20% of sad" in text and "15%" in text
    assert "no general sink: only 21% of angry" in A.neutral_sink_text(_cm({"angry": 0.21, "sad": 0.05}))
    text = A.neutral_sink_text(_cm({"angry": 0.08, "sad": 0.05}))
    assert "is no sink" in text and "largest: 8% of angry" in text and "acts as a sink" not in text


def test_q13_why_follows_the_training_counts():
    cm = _cm({"angry": 0.2, "sad": 0.2})
    per_class = pd.DataFrame({"recall": [0.6, 0.1, 0.5, 0.7], "train_count": [4000, 400, 5000, 6000]},
                             index=cm.index)
    stats = {"macro_f1": 0.5, "balanced_accuracy": 0.48, "accuracy": 0.6}
    text = A.confusion_answer_text(cm, per_class, stats)
    assert "**disgust**" in text and "the rarest class in training" in text and "acts as a sink" in text
    per_class.loc["disgust", "train_count"] = 9000                         # contrary: the weakest class is common
    text = A.confusion_answer_text(cm, per_class, stats)
    assert "not the rarest class" in text and "rarest class in training" not in text


# --- Q1.4-Q1.5: where the map sits ---------------------------------------------------------------------------------

def _shares(upper, mid, mouth, outside):
    return dict(zip(C.FACE_REGIONS, (upper, mid, mouth, outside)))


def test_map_reason_reads_the_regions():
    off = A.map_reason_text("happy", "sad", _shares(0.1, 0.1, 0.1, 0.7))
    assert "sits mostly outside the face (background, hair: 70% of its mass on 37% of the crop)" in off
    assert "no facial cue" in off
    even = A.map_reason_text("happy", "sad", C.face_region_areas())           # a uniform map: the regions' areas
    assert "spread over the crop" in even and "no facial cue" not in even
    both = A.map_reason_text("surprise", "sad", _shares(0.7, 0.1, 0.1, 0.1))
    assert "both surprise's and sad's AUs act" in both
    wrong_place = A.map_reason_text("disgust", "angry", _shares(0.7, 0.1, 0.1, 0.1))
    assert "where angry's AUs act but disgust's do not" in wrong_place
    assert "(disgust acts on the mid face and on the mouth)" in wrong_place
    assert "map is empty" in A.map_reason_text("happy", "sad", _shares(*[float("nan")] * 4))
    to_neutral = A.map_reason_text("disgust", "neutral", _shares(0.7, 0.1, 0.1, 0.1))
    assert "away from where disgust's AUs act (on the mid face and on the mouth)" in to_neutral
    assert "too weak and neutral, the class without AUs, won" in A.map_reason_text("sad", "neutral",
                                                                                   _shares(0.7, 0.1, 0.1, 0.1))
    no_face = A.map_reason_text("disgust", "angry", _shares(0.7, 0.1, 0.1, 0.1), no_face=True)
    assert no_face.startswith("no face was found in this photo, so the model saw a centre crop")
    assert "no face was found" not in wrong_place


def _row(model, kind, face, true, pred, shares, no_face=False, stress=""):
    return {"model": model, "face": face, "kind": kind, "true": true, "pred": pred, "prob": 0.5,
            "p_true": 0.6 if true == pred else 0.1, "correct": true == pred, "upper_face_share": shares[0],
            **dict(zip(C.REGION_COLUMNS, shares)), "no_face_found": no_face, "stress": stress}


def test_q15_why_comes_from_the_maps_and_names_a_missing_face():
    rows = [_row("synthetic", "folder", "wild_pose_surprise", "surprise", "sad", (0.7, 0.1, 0.1, 0.1),
                 stress="strong head pose"),
            _row("synthetic", "folder", "wild_hand", "happy", "happy", (0.6, 0.1, 0.2, 0.1), stress="a hand"),
            _row("synthetic", "real photo", "45-m7-di-ph", "disgust", "angry", (0.1, 0.1, 0.1, 0.7), no_face=True),
            _row("real-FER2013", "real photo", "45-m7-di-ph", "disgust", "disgust", (0.2, 0.3, 0.4, 0.1))]
    text = A.failure_answer_text(pd.DataFrame(rows))
    assert "case: strong head pose; true surprise" in text and "both surprise's and sad's AUs act" in text
    assert A.stress_label("harsh side light, high contrast: half the face in shadow") == "harsh side light, high contrast"
    assert A.stress_label("disgust, the rarest FER2013 class (1.5 % of faces)") == "disgust, the rarest FER2013 class"
    assert A.stress_label(float("nan")) == "" and A.stress_label("a b c d e f g h i j") == "a b c d e f g h ..."
    assert "45-m7-di-ph (true disgust -> angry; CAM" in text and "no face was found in this photo" in text
    assert "70% of the map lies outside the face, against 10%" in text and "leans more on what surrounds" in text
    assert "texture, shading and proportions" not in text and "lip contours" not in text
    rows[2] = _row("synthetic", "real photo", "45-m7-di-ph", "disgust", "angry", (0.1, 0.6, 0.2, 0.1))
    text = A.failure_answer_text(pd.DataFrame(rows))                        # contrary: a face found, map on it
    assert "no face was found" not in text and "(within 10 pp), so where the map looks does not explain" in text


def test_q14_guided_backprop_regions_are_measured_not_typed():
    summary = pd.DataFrame([("gradcam", "last_conv", "all", 0.6, 0.25, 0.1, 0.3, 0.005)],
                           columns=["method", "layer", "emotion", "region_share", "pointing_hit", "empty_cam",
                                    "chance", "road"])
    test = pd.DataFrame({"face": ["happy"], "pred": ["happy"], "prob": [0.9], "correct": [True]})
    text = A.test_answer_text(test, summary, 0.5, 12, _shares(0.5, 0.2, 0.2, 0.1))
    assert "its magnitude lies 50% upper face, 20% mid face, 20% mouth, 10% outside the face" in text
    assert "lip contours" not in text
    assert "its magnitude lies" not in A.test_answer_text(test, summary, 0.5, 12)


# --- Q1.6-Q1.7 -----------------------------------------------------------------------------------------------------

COUNTS = pd.DataFrame({"Training": [3995, 436, 7215, 4830], "PrivateTest": [491, 55, 879, 594]},
                      index=["angry", "disgust", "happy", "sad"])


def _cases(model, outcomes, kind="folder"):
    return [{"model": model, "face": f, "kind": kind, "true": t, "pred": t if ok else "sad" if t != "sad" else "angry",
             "correct": ok} for f, t, ok in outcomes]


def test_q16_why_is_tied_to_what_q15_found():
    assert A.rare_classes(COUNTS["Training"]) == ["disgust"]
    rare_failed = pd.DataFrame(_cases("before", [("wild_disgust", "disgust", False), ("wild_pose", "happy", False),
                                                 ("wild_sad", "sad", True)]))
    text = A.method_answer_text("reweight", COUNTS, True, cases=rare_failed)
    assert "Why here: Q1.5 found 2 of 3 `test2` faces wrong, 1 of them on a rare class (disgust): wild_disgust" in text
    assert "reweight targets those, while the 1 common-class failures (wild_pose" in text
    common_failed = pd.DataFrame(_cases("before", [("wild_disgust", "disgust", True), ("wild_pose", "happy", False)]))
    text = A.method_answer_text("reweight", COUNTS, True, cases=common_failed)
    assert "none is a rare class, so reweight is not expected to fix them" in text
    assert "no `test2` failure" in A.q15_link_text("reweight", pd.DataFrame(_cases("before", [("a", "sad", True)])),
                                                   ["disgust"])
    photos = pd.DataFrame(_cases("before", [("astronaut", "happy", False)], kind="real photo"))
    assert "1 failures are real photos (astronaut" in A.q15_link_text("transfer", photos, ["disgust"])
    assert "none is a real photo" in A.q15_link_text("transfer", common_failed, ["disgust"])
    assert "Why here" not in A.method_answer_text("reweight", COUNTS, True)


def test_q17_test2_reason_is_computed_from_the_case_table():
    mostly_common = pd.DataFrame(_cases("before", [("wild_disgust", "disgust", False), ("wild_pose", "happy", False),
                                                   ("wild_light", "happy", False)])
                                 + _cases("after", [("wild_disgust", "disgust", True), ("wild_pose", "happy", False),
                                                    ("wild_light", "happy", False)]))
    text = A.test2_reason_text(mostly_common, ["disgust"])
    assert "2 of 3 `test2` faces are still wrong: 0 on a rare class (disgust) and 2 on common classes" in text
    assert "not imbalance and re-balancing cannot reach them" in text and "turned wild_disgust right" in text
    mostly_rare = pd.DataFrame(_cases("before", [("wild_disgust", "disgust", False), ("wild_pose", "happy", True)])
                               + _cases("after", [("wild_disgust", "disgust", False), ("wild_pose", "happy", False)]))
    mostly_rare.loc[len(mostly_rare)] = {"model": "after", "face": "d2", "kind": "folder", "true": "disgust",
                                         "pred": "angry", "correct": False}
    text = A.test2_reason_text(mostly_rare, ["disgust"])
    assert "mostly the rare classes the fix targets" in text and "The fix turned wild_pose wrong." in text
    assert "light, pose, occlusion" not in text


def test_q17_label_noise_is_measured_or_dropped():
    noise = {"rate": 0.11, "n": 7000, "pairs": pd.Series({("angry", "disgust"): 40, ("sad", "neutral"): 30}),
             "into": {"disgust": 0.3, "happy": 0.05}, "out_of": {}}
    text = A.label_noise_text(noise, "reweight", ["disgust"])
    assert "11% of the 7,000 training labels" in text and "angry faces labelled disgust (40)" in text
    assert "labelled disgust, 30% show another emotion" in text and "same extra weight" in text
    clean_rare = {**noise, "into": {"disgust": 0.05}}
    text = A.label_noise_text(clean_rare, "transfer", ["disgust"])
    assert "show another emotion" not in text and "extra weight" not in text
    assert A.label_noise_text(None, "reweight", ["disgust"]) == ""


def test_q17_names_the_data_and_drops_the_typed_sentences():
    rows = ["recall disgust", "predicted disgust", "precision disgust", "macro-F1", "balanced accuracy",
            "private accuracy"]
    table = pd.DataFrame({"before": [0.1, 5, 0.4, 0.3, 0.3, 0.5], "after": [0.35, 40, 0.3, 0.33, 0.36, 0.49]},
                         index=rows)
    cases = pd.DataFrame(_cases("before", [("wild_pose", "happy", False)]) + _cases("after", [("wild_pose", "happy",
                                                                                               False)]))
    text = A.before_after_text(table, COUNTS, cases, "reweight", 0.25, 2)
    assert "on **synthetic** faces" in text and "About 10 %" not in text and "domain shift" not in text
    assert "annotator noise" not in text                                   # no noise measured: no noise sentence
    text = A.before_after_text(table, COUNTS, cases, "reweight", 0.25, 2, synthetic=False,
                               noise={"rate": 0.2, "n": 10, "pairs": pd.Series(dtype=int), "into": {}, "out_of": {}})
    assert "of real FER2013" in text and "synthetic" not in text and "20% of the 10 training labels" in text


def test_data_and_explainer_lines():
    synthetic = FaceSet(torch.zeros(3, 48, 48, dtype=torch.uint8), emotion=torch.zeros(3, dtype=torch.int64),
                        meta={"generator": "facekit.synth"})
    assert "**synthetic** faces that facekit renders" in A.data_text(synthetic) and "3 faces" in A.data_text(synthetic)
    real = FaceSet(synthetic.images, emotion=synthetic.emotion, meta={"real": True})
    assert A.data_text(real) == "*Data: real FER2013, 3 faces.*"
    auto = {"method": "hirescam", "layer": "block3", "score": 0.76, "by": "region_share"}
    assert "notebook 03's explainer" in A.explainer_note(auto, 10) and "76%" in A.explainer_note(auto, 10)
    choice, validation = sanity.resolve_explainer(None, "gradcam@block2")
    assert validation is None and "`EXPLAINER` parameter" in A.explainer_note(choice, 10)
    assert sanity.candidates(True) == list(sanity.CANDIDATES[:3]) and len(sanity.candidates(False)) == 5
    assert A.with_context("*ctx*", "**Answer.** text") == "**Answer.** *ctx* text"


# --- figures -------------------------------------------------------------------------------------------------------

def test_region_score_legend_sits_below_the_bars():
    rows = [(m, l, e, 0.5, 0.5, 0.3) for m, l in sanity.CANDIDATES[:3] for e in ("happy", "sad")]
    summary = pd.DataFrame(rows, columns=["method", "layer", "emotion", "region_share", "pointing_hit", "chance"])
    fig = P.plot_region_scores(summary)
    assert all(ax.get_legend() is None for ax in fig.axes) and len(fig.legends) == 1
    legend_top = fig.legends[0].get_window_extent(fig.canvas.get_renderer()).y1
    assert legend_top <= min(ax.get_window_extent().y0 for ax in fig.axes)  # below every axes: covers no bar


def test_before_after_figure_says_why_a_bar_is_missing():
    table = pd.DataFrame({"before": [0.1, 1.0, 1], "after": [0.5, 0.1, 320], "control": [0.0, float("nan"), 0]},
                         index=["recall disgust", "precision disgust", "predicted disgust"])
    notes = P.missing_bar_notes(table)
    assert notes == ["precision disgust of control: it calls 0 faces disgust, so precision is 0/0, undefined"]
    fig = P.plot_before_after(table)
    assert any("no bar: precision disgust of control" in t.get_text() for t in fig.texts)
    both = P.missing_bar_notes(table.assign(after=[0.5, float("nan"), 0]))
    assert both == ["precision disgust of after, control: each calls 0 faces disgust, so precision is 0/0, undefined"]
    assert P.missing_bar_notes(table.fillna(0.2)) == [] and EMOTIONS  # nothing missing, no note


def test_q11_q12_answers_are_composed_from_the_tables():
    from facekit.emotion import MiniXception, count_parameters, layer_table

    model = MiniXception()
    text = A.architecture_answer_text(count_parameters(model), layer_table(model, 48), layer_table(model, 44))
    assert "**56,951** trainable parameters, 8,071 of them in the last 3x3 convolution" in text
    assert "(8, 44, 44) after the unpadded stem and (128, 3, 3) after the four blocks" in text
    history = pd.DataFrame({"epoch": [1, 2, 3, 4, 5], "public_acc": [0.3, 0.5, 0.6, 0.58, 0.59],
                            "private_acc": [0.3, 0.5, 0.6, 0.6, 0.6], "train_acc": [0.3, 0.5, 0.6, 0.62, 0.62],
                            "train_loss": [1.5, 1.2, 1.0, 0.99, 0.98], "private_loss": [1.5, 1.2, 1.0, 1.0, 1.0],
                            "train_seconds": [6.0] * 5, "eval_seconds": [6.0] * 5, "train_img_per_s": [900.0] * 5})
    synthetic = FaceSet(torch.zeros(3, 48, 48, dtype=torch.uint8), emotion=torch.zeros(3, dtype=torch.int64))
    text = A.training_answer_text(history, 0.61, 1.0, 0.25, "cosine", 2, synthetic)
    assert text.startswith("**Answer.** *Data: **synthetic** faces") and "epoch 3 of 5" in text
    assert "1.0 min at 900 training images/s on 2 thread(s)" in text and "no sign of overfitting" in text
    overfit = history.assign(train_acc=[0.3, 0.6, 0.8, 0.9, 0.95], private_loss=[1.5, 1.0, 1.1, 1.3, 1.5])
    assert "**overfits**" in A.training_answer_text(overfit, 0.61, 1.0, 0.25, "cosine", 2, synthetic)
