"""The course kit as students have it: label-named test folders, the starters' checkpoints and outputs, unlabelled
Task 2 crops and a nested dataset/fer2013.csv, run through the notebooks' parameters (QUICK mode).

The fixture tree is built here: faces rendered by facekit's generator and saved as colour JPEGs (the course's own
photos are not in the repository), a Task 1 starter ``.t7`` of the starter network rebuilt in
``tests/test_kit_formats.py`` with random weights, and the starter's ``guided_gradcam.jpg`` stand-in.
"""
from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from facekit.data.faces import load_face_folder

LABEL_NAMED = {"angry": "angry", "happy": "happy", "sad": "sad", "surprised": "surprise"}


def _colour_faces(emotions, size, seed):
    from facekit.synth import render_faces
    from facekit.data import EMOTIONS

    batch = render_faces(len(emotions), seed=seed, size=size, color=True,
                         emotion=torch.tensor([EMOTIONS.index(e) for e in emotions]))
    images = np.asarray(batch.images)
    return images.transpose(0, 2, 3, 1) if images.ndim == 4 and images.shape[1] == 3 else images


def _write_jpeg(path, rgb):
    rgb = np.asarray(rgb)
    bgr = rgb[..., ::-1] if rgb.ndim == 3 else rgb
    assert cv2.imwrite(str(path), np.ascontiguousarray(bgr))


@pytest.fixture(scope="session")
def course_tree(tmp_path_factory):
    """task1/{dataset/fer2013.csv (nested, FER2013 format), src/, test/, test2/, trained/starter.t7} and
    task2/{train,test,test2}/ of unlabelled 256 px face crops."""
    from test_kit_formats import StarterEmotionModel, _randomise

    root = tmp_path_factory.mktemp("course")
    t1 = root / "task1"
    for folder, seed in (("test", 1), ("test2", 2)):
        (t1 / folder).mkdir(parents=True)
        faces = _colour_faces(list(LABEL_NAMED.values()), 160, seed)
        for (stem, _), face in zip(LABEL_NAMED.items(), faces):
            _write_jpeg(t1 / folder / f"{stem}.jpg", face)
    strip = np.concatenate([np.full((48, 48, 3), 30 * i, np.uint8) for i in range(6)], axis=1)
    _write_jpeg(t1 / "test" / "guided_gradcam.jpg", strip)  # what the starter's check.py leaves behind
    (t1 / "trained").mkdir()
    torch.save({"net": _randomise(StarterEmotionModel(), seed=3).state_dict()}, t1 / "trained" / "starter.t7")
    # FER2013 in the course's nested folder: data/fer2013/dataset/fer2013.csv
    from facekit.synth import make_fer_dataset

    fer = make_fer_dataset(n_scale=0.01, seed=5)
    usage = np.array(["Training", "PublicTest", "PrivateTest"])[fer.usage.numpy()]
    rows = [f"{int(l)},{' '.join(map(str, img.flatten().tolist()))},{u}"
            for img, l, u in zip(fer.images.numpy(), fer.emotion.numpy(), usage)]
    (t1 / "fer2013" / "dataset").mkdir(parents=True)
    (t1 / "fer2013" / "dataset" / "fer2013.csv").write_text("emotion,pixels,Usage\n" + "\n".join(rows) + "\n")
    t2 = root / "task2"
    for folder, seed in (("train", 11), ("test", 12), ("test2", 13)):
        (t2 / folder).mkdir(parents=True)
        emotions = ["happy", "sad", "surprise", "angry", "disgust", "neutral"][: 6 if folder == "train" else 3]
        for i, face in enumerate(_colour_faces(emotions, 256, seed)):
            _write_jpeg(t2 / folder / f"F{i:03d}.jpg", face)
    return root


def test_label_named_folder_is_read_as_the_course_has_it(course_tree):
    crops = load_face_folder(course_tree / "task1" / "test")
    assert crops.names == ["angry", "happy", "sad", "surprised"]  # guided_gradcam.jpg skipped
    assert crops.emotion_names == ["angry", "happy", "sad", "surprise"] and crops.meta["label_source"] == "file names"
    assert any("guided_gradcam.jpg" in r and "skipped" in r for r in crops.meta["remarks"])
    starter = load_face_folder(course_tree / "task1" / "test", crop="starter")
    assert starter.meta["crop"] == "starter" and starter.images.shape == (4, 48, 48)
    assert not torch.equal(starter.images, crops.images)


def test_unlabelled_faces_are_not_scored_as_wrong(tmp_path):
    from facekit.emotion.answers import labelled_faces_text as test_score_text
    from facekit.explain.cases import labelled_accuracy

    table = pd.DataFrame({"face": ["happy", "F001"], "true": ["happy", "no label"], "pred": ["happy", "sad"],
                          "prob": [0.9, 0.8], "correct": [True, None]})
    assert labelled_accuracy(table) == 1.0
    text = test_score_text(table)
    assert "1 of 1" in text and "no label" in text and "not scored" in text
    none = table.assign(correct=[None, None], true=["no label"] * 2)
    assert labelled_accuracy(none) is None and "nothing is scored" in test_score_text(none)


def test_starter_crop_follows_check_py(course_tree):
    """check.py: cv2.imread (BGR), first Haar face, cv2.resize 48, PIL convert('L') on the BGR array."""
    from PIL import Image

    from facekit.data.faces import haar_cascade, starter_crop

    path = course_tree / "task1" / "test" / "happy.jpg"
    image = cv2.imread(str(path))
    found = haar_cascade().detectMultiScale(image, scaleFactor=1.1, minNeighbors=5, minSize=(1, 1),
                                            flags=cv2.CASCADE_SCALE_IMAGE)
    if len(found):
        x, y, w, h = found[0]
        image = image[y:y + h, x:x + w]
    expected = np.asarray(Image.fromarray(cv2.resize(image, (48, 48))).convert("L"))
    assert np.array_equal(starter_crop(path)[0], expected)


@pytest.mark.notebook
def test_gradcam_notebook_on_the_course_folders(course_tree, run_notebook):
    t1 = course_tree / "task1"
    out = run_notebook("03_gradcam", TEST_DIR=str(t1 / "test"), TEST2_DIR=str(t1 / "test2"),
                       CHECKPOINT=str(t1 / "trained" / "starter.t7"), CROP="starter")
    m = json.loads((out / "metrics.json").read_text())
    assert m["checkpoint_format"] == "task1-starter" and m["checkpoint"].endswith("starter.t7")
    assert m["crop"] == "starter" and m["test_label_source"] == "file names"
    assert m["test_faces"] == 4 and m["test_unlabelled"] == 0
    assert any(p.endswith("guided_gradcam.jpg") for p in m["test_skipped"])
    assert sorted(m["test_predictions"]) == ["angry", "happy", "sad", "surprised"]
    assert m["test_accuracy"] is not None and 0 <= m["test_accuracy"] <= 1
    crop = pd.read_csv(out / "crop_comparison.csv")
    assert list(crop["true"]) == ["angry", "happy", "sad", "surprise"] and (crop["grey_level_diff"] > 0).all()
    assert (out / "test" / "guided_gradcam.jpg").is_file()


def test_fer2013_is_found_where_students_put_it(tmp_path, course_tree):
    from facekit.data.loaders import find_fer2013, load_fer2013
    from facekit.emotion.data import load_emotion_data, subsample

    nested = course_tree / "task1" / "fer2013"
    assert find_fer2013(nested) == nested / "dataset"
    full = load_fer2013(find_fer2013(nested))
    # Kaggle's icml_face_data.csv: header 'emotion, Usage, pixels' with spaces
    text = (nested / "dataset" / "fer2013.csv").read_text().splitlines()
    icml = ["emotion, Usage, pixels"] + [f"{r.split(',')[0]}, {r.split(',')[2]}, {r.split(',')[1]}" for r in text[1:]]
    (tmp_path / "fer2013").mkdir()
    (tmp_path / "fer2013" / "icml_face_data.csv").write_text("\n".join(icml) + "\n")
    other = load_fer2013(find_fer2013(tmp_path))
    assert np.array_equal(other.images.numpy(), full.images.numpy()) and np.array_equal(other.usage, full.usage)
    quick = load_emotion_data(0.5, seed=1, fer2013=nested, verbose=False)
    assert quick.meta["real"] and 0.4 * len(full) < len(quick) < 0.6 * len(full)
    for code in range(3):
        assert (quick.usage == code).sum() == max(1, round(int((full.usage == code).sum()) * 0.5))
    again = load_emotion_data(0.5, seed=1, fer2013=nested, verbose=False)
    assert np.array_equal(quick.images.numpy(), again.images.numpy())  # seeded
    assert len(subsample(full, 1.0)) == len(full)
    with pytest.raises(FileNotFoundError, match="icml_face_data.csv"):
        load_emotion_data(0.5, fer2013=tmp_path / "nothing", verbose=False)


@pytest.mark.notebook
def test_training_notebook_reads_the_nested_fer2013(course_tree, run_notebook, tmp_path_factory):
    ckpt = tmp_path_factory.mktemp("course_ckpt")  # not the session's checkpoint folder the other notebooks read
    out = run_notebook("02_emotion_training", FER2013=str(course_tree / "task1" / "fer2013"), CKPT_DIR=str(ckpt))
    m = json.loads((out / "metrics.json").read_text())
    assert m["real_data"] is True and "dataset/fer2013.csv" in m["data_source"] and "subsample" in m["data_source"]
    counts = pd.read_csv(out / "class_counts.csv", index_col=0)
    assert counts.to_numpy().sum() == m["n_faces"] < 359  # QUICK: 3 % of the 1 % twin written as CSV
    assert (ckpt / "emotion_minixception.pt").is_file()


@pytest.fixture(scope="session")
def fau_model_pth(course_tree):
    """A Pytorch-FAU model.pth (network.ResNet with Bottleneck blocks, deconv_layers_1..3; one block per stage to
    keep the QUICK run short), saved bare as the course's file is."""
    from test_kit_formats import StarterFAUResNet, _randomise

    torch.manual_seed(0)
    path = course_tree / "task2" / "model.pth"
    torch.save(_randomise(StarterFAUResNet(layers=(1, 1, 1, 1)), seed=8).state_dict(), path)
    return path


@pytest.mark.notebook
def test_fau_demo_on_unlabelled_course_folders(course_tree, fau_model_pth, run_notebook):
    t2 = course_tree / "task2"
    out = run_notebook("05_fau_demo", CHECKPOINT=str(fau_model_pth), TEST_DIR=str(t2 / "test"),
                       TEST2_DIR=str(t2 / "test2"))
    m = json.loads((out / "metrics.json").read_text())
    assert m["checkpoint_format"] == "pytorch-fau" and m["input_size"] == 256 and m["input_rgb"] is True
    assert m["test_labelled"] is False and m["test_mae"] == "no labels: not computed"
    assert m["test2_mae"] == "no labels: not computed"
    table = pd.read_csv(out / "test_intensities.csv", index_col=0)
    assert list(table.index) == ["F000", "F001", "F002"] and list(table.columns) == ["AU6", "AU10", "AU12", "AU14", "AU17"]
    names = sorted(p.name for p in (out / "visualize" / "course_test").glob("*.png"))
    assert names == sorted(f"Subject{k}_AU{a:02d}.png" for k in range(3) for a in (6, 10, 12, 14, 17))
    assert cv2.imread(str(out / "visualize" / "course_test" / "Subject0_AU06.png")).shape == (128, 128, 3)


@pytest.mark.notebook
def test_fewshot_notebook_tunes_label_free_on_the_course_folders(course_tree, fau_model_pth, run_notebook):
    """07 on the course's unlabelled task 2 folders with Pytorch-FAU's model.pth: label-free tuning on train/, the
    tuned model's intensities and visualize/ images for test/ and test2/, no error metric on them, and the
    supervised vs label-free comparison still computed on the synthetic faces (truth known)."""
    out = run_notebook("07_fewshot", DATA_DIR=str(course_tree / "task2"), CHECKPOINT=str(fau_model_pth),
                       TUNING="label-free")
    m = json.loads((out / "metrics.json").read_text())
    assert m["tuning"] == "label-free" and m["checkpoint_format"] == "pytorch-fau"
    assert m["checkpoint"].endswith("model.pth") and m["handful_labelled"] is False
    assert m["test_labelled"] is False and m["test2_labelled"] is False and m["wild_labelled"] is True
    for key in ("test_icc_before", "test_mae_after_mean", "test2_icc_after_mean", "test2_mae_before"):
        assert m[key] == "no labels: not computed"
    assert np.isfinite(m["wild_icc_after_mean"])
    for method in ("supervised", "label_free"):
        assert np.isfinite(m[f"compare_wild_icc_{method}_mean"])
    table = pd.read_csv(out / "test_intensities.csv", index_col=0)
    assert list(table.index) == ["F000", "F001", "F002"]
    assert list(table.columns[:5]) == ["AU6", "AU10", "AU12", "AU14", "AU17"] and "AU6_untuned" in table.columns
    names = sorted(p.name for p in (out / "visualize" / "course_test2").glob("*.png"))
    assert names == sorted(f"Subject{k}_AU{a:02d}.png" for k in range(3) for a in (6, 10, 12, 14, 17))
    assert cv2.imread(str(out / "visualize" / "course_test" / "Subject0_AU06.png")).shape == (128, 128, 3)
    summary = pd.read_csv(out / "tuning_comparison_summary.csv", index_col=0)
    assert {"supervised_mean", "label-free_mean"} <= set(summary.columns) and "wild_icc" in summary.index


@pytest.mark.notebook
def test_patch_attention_notebook_on_the_course_folders(course_tree, fau_model_pth, run_notebook):
    """08 with Pytorch-FAU's model.pth as the baseline and the course's unlabelled test/ and test2/."""
    out = run_notebook("08_patch_attention", DATA_DIR=str(course_tree / "task2"),
                       BASELINE_CHECKPOINT=str(fau_model_pth))
    m = json.loads((out / "metrics.json").read_text())
    assert m["baseline_format"] == "pytorch-fau" and m["input_size"] == 256
    assert m["test_labelled"] is False and m["test2_labelled"] is False
    assert m["test_icc_baseline"] == m["test2_mae_patch_attention"] == "no labels: not computed"
    assert np.isfinite(m["wild_icc_baseline"]) and np.isfinite(m["lab_mae_patch_attention"])
    table = pd.read_csv(out / "test2_intensities.csv", index_col=0)
    assert list(table.index) == ["F000", "F001", "F002"]
    assert {"AU6_baseline", "AU17_patch_attention"} <= set(table.columns)
    for variant in ("baseline", "patch_attention"):
        names = sorted(p.name for p in (out / "visualize" / "course_test" / variant).glob("*.png"))
        assert names == sorted(f"Subject{k}_AU{a:02d}.png" for k in range(3) for a in (6, 10, 12, 14, 17))
