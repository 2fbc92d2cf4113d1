"""Label-free few-shot tuning (facekit.fau.labelfree) and its comparison with the supervised one (facekit.fau.fewshot):
pseudo-labels respect the mirror, BatchNorm adaptation touches statistics only, unlabelled faces are never scored,
and the verdict says a word of change only beyond the seed spread (contrary numbers)."""
import numpy as np
import pandas as pd
import pytest
import torch

import facekit as fk
from facekit.fau import answers as fa
from facekit.fau import fewshot, labelfree
from facekit.data import FaceSet
from facekit.fau.folders import NO_LABELS, checkpoint_label, face_set_label, is_labelled
from facekit.fau.model import build_fau_model, load_fau_model
from test_fewshot import handful, tiny_config


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    return fewshot.save_tuned_model(build_fau_model(tiny_config()), tmp_path / "start.pth")


def unlabelled(data: FaceSet) -> FaceSet:
    out = FaceSet(data.images, au=torch.full_like(data.au, float("nan")), aus=data.aus, points=data.points,
                  source="course", names=list(data.names), meta={"labelled": False, "folder": "/course/task2/train"})
    assert not is_labelled(out)
    return out


def test_mirrored_heatmaps_answer_a_face_and_its_mirror_alike(checkpoint):
    model = load_fau_model(checkpoint)
    data = handful(4)
    mirrored = FaceSet(data.images.flip(-1).contiguous(), au=data.au, aus=data.aus, points=data.points, source="mirror")
    a, b = labelfree.mirrored_heatmaps(model, data), labelfree.mirrored_heatmaps(model, mirrored)
    swap = [1, 0, 3, 2, 5, 4, 7, 6, 8, 9]  # AU6/10/12/14 left-right pairs swap; AU17's midline pair stays
    assert torch.allclose(a, b.flip(-1)[:, swap], atol=1e-5)


def test_pseudo_labels_are_the_models_own_readout(checkpoint):
    model = load_fau_model(checkpoint)
    data = unlabelled(handful(4))
    pseudo = labelfree.pseudo_labels(model, data)
    assert is_labelled(pseudo) and pseudo.meta["pseudo_labels"] and pseudo.names == data.names
    from facekit.fau.heatmaps import read_intensities

    expected = read_intensities(labelfree.mirrored_heatmaps(model, data)).numpy()
    assert np.allclose(pseudo.au.numpy(), expected)
    assert pseudo.points.shape == data.points.shape
    assert (pseudo.points >= -1).all() and (pseudo.points <= data.image_size).all()


def test_batchnorm_adaptation_changes_statistics_not_weights(checkpoint):
    model = load_fau_model(checkpoint)
    weights = {k: v.clone() for k, v in model.state_dict().items() if "running" not in k and "num_batches" not in k}
    before = model.stem.bn1.running_mean.clone() if hasattr(model, "stem") else None
    labelfree.adapt_batchnorm(model, handful(6))
    assert not model.training
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in weights.items())
    stats = [m.running_mean for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert stats and all(torch.isfinite(s).all() for s in stats)
    if before is not None:
        assert not torch.equal(before, model.stem.bn1.running_mean)
    assert all(m.momentum == 0.1 for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_supervised_tuning_without_labels_says_what_to_set(checkpoint):
    with pytest.raises(ValueError, match="TUNING = 'label-free'"):
        fewshot.tune_fewshot(checkpoint, unlabelled(handful(4)), epochs=1, method="supervised")
    with pytest.raises(ValueError, match="method must be one of"):
        fewshot.tune_fewshot(checkpoint, handful(4), epochs=1, method="self")


def test_label_free_tuning_runs_without_labels_and_is_repeatable(checkpoint):
    data = unlabelled(handful(4))
    model, history = fewshot.tune_fewshot(checkpoint, data, lr=1e-3, epochs=2, batch_size=2, seed=3,
                                          method="label-free")
    again, _ = fewshot.tune_fewshot(checkpoint, data, lr=1e-3, epochs=2, batch_size=2, seed=3, method="label-free")
    assert history.attrs["method"] == "label-free" and np.isfinite(history["train_loss"]).all()
    assert np.isfinite(history.attrs["clean_loss_before"])  # measured against the pseudo-labels
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in model.state_dict().items())


def test_unlabelled_sets_are_shown_never_scored(checkpoint):
    model = load_fau_model(checkpoint)
    sets = {"test2": unlabelled(handful(3, seed=1)), "wild": handful(5, seed=2)}
    scores = fewshot.score_model(model, sets)
    assert "test2_icc" not in scores and "test2_spread" in scores and "wild_icc" in scores
    assert list(fewshot.labelled_sets(sets)) == ["wild"]
    assert np.isnan(fewshot.fewshot_loss(model, sets["test2"]))


def test_compare_tunings_reuses_a_finished_method(checkpoint):
    data, sets = handful(4), {"wild": handful(5, seed=2)}
    done = fewshot.repeat_seeds(checkpoint, data, sets, (0, 1), lr=1e-3, epochs=1, batch_size=2)
    table = fewshot.compare_tunings(checkpoint, data, sets, (0, 1), done={"supervised": done}, lr=1e-3, epochs=1,
                                    batch_size=2, method="supervised")
    assert list(table.index.get_level_values("method").unique()) == ["supervised", "label-free"]
    pd.testing.assert_frame_equal(table.xs("supervised", level="method"), done)
    summary = fewshot.summarise_tunings(table, fewshot.score_model(load_fau_model(checkpoint), sets))
    assert {"before", "supervised_mean", "supervised_std", "label-free_mean", "label-free_std"} <= set(summary.columns)
    assert "wild_icc" in summary.index


def _summary(lf_mean, lf_std, sup_mean, sup_std, before, metric="wild_icc"):
    return pd.DataFrame({"before": [before], "supervised_mean": [sup_mean], "supervised_std": [sup_std],
                         "label-free_mean": [lf_mean], "label-free_std": [lf_std]}, index=[metric])


@pytest.mark.parametrize("numbers, expected", [
    ((0.50, 0.01, 0.40, 0.01, 0.30), "**better than supervised** and better than untuned"),
    ((0.40, 0.01, 0.50, 0.01, 0.30), "**worse than supervised** and better than untuned"),
    ((0.42, 0.05, 0.40, 0.01, 0.30), "**the same as supervised within the seed spread** and better than untuned"),
    ((0.31, 0.02, 0.40, 0.01, 0.30), "**worse than supervised** and the same as untuned within the seed spread"),
    ((0.20, 0.02, 0.40, 0.01, 0.30), "**worse than supervised** and worse than untuned"),
])
def test_comparison_verdict_follows_the_numbers(numbers, expected):
    text = fa.tuning_comparison_text(_summary(*numbers), n_seeds=3)
    assert expected in text and "Over 3 seeds" in text


def test_comparison_verdict_for_mae_is_lower_is_better():
    text = fa.tuning_comparison_text(_summary(0.50, 0.01, 0.70, 0.01, 0.80, metric="wild_mae"), n_seeds=2)
    assert "**better than supervised** and better than untuned" in text
    one_seed = fa.tuning_comparison_text(_summary(0.50, np.nan, 0.70, np.nan, 0.80, "wild_mae"), n_seeds=1)
    assert "better" not in one_seed and "worse" not in one_seed  # no spread, no word of change
    assert fa.tuning_comparison_text(_summary(1, 1, 1, 1, 1, "test_spread"), 2).startswith("No labelled")


def test_checkpoint_names_and_paths(tmp_path, checkpoint, monkeypatch):
    assert fk.find_checkpoint(str(checkpoint), tmp_path / "run") == checkpoint  # a path is taken as it is
    monkeypatch.chdir(checkpoint.parent)
    assert fk.find_checkpoint("start.pth", tmp_path / "run") == checkpoint.parent / "start.pth"  # bare name, here
    with pytest.raises(FileNotFoundError, match="does not exist"):
        fk.find_checkpoint(str(tmp_path / "course" / "model.pth"))
    model = load_fau_model(checkpoint)
    assert checkpoint_label(model) == "`start.pth` (facekit checkpoint)"
    model.checkpoint_format = "pytorch-fau"
    assert "Pytorch-FAU's model.pth" in checkpoint_label(model)


def test_face_set_label_names_folder_and_labels():
    from facekit.fau import load_face_images

    shipped = load_face_images(fk.data_dir("fau", "test"))
    assert face_set_label(shipped) == "`data/fau/test/` (the shipped synthetic faces, labelled)"
    course = unlabelled(handful(2))
    assert face_set_label(course) == "`/course/task2/train` (your folder, no labels.csv)"
    assert NO_LABELS == "no labels: not computed"
