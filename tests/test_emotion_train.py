"""The in-memory trainer, batched augmentation, metrics, plots and emotion checkpoints (fast, toy data)."""
import matplotlib
import pandas as pd
import pytest
import torch

matplotlib.use("Agg")

from facekit.data import FaceSet  # noqa: E402
from facekit.data.fer import EMOTIONS  # noqa: E402
from facekit.emotion import (  # noqa: E402
    MiniXception, TrainConfig, Trainer, TrainingDiverged, center_crop, confusion, load_emotion_model,
    per_class_report, plot_acc, plot_confusion, plot_loss, predict, random_crop_flip, safe_batch_size,
    save_emotion_model, summarize, train_classifier,
)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the CI machine is small and shared; these models are tiny
    yield
    torch.set_num_threads(threads)


def toy_faces(n_per_class=40, seed=0, n_train=None, n_public=None, n_private=None) -> FaceSet:
    """Noise faces with a bright horizontal bar whose height encodes the emotion (survives crop and flip)."""
    g = torch.Generator().manual_seed(seed)
    n = len(EMOTIONS) * n_per_class
    labels = torch.arange(len(EMOTIONS)).repeat(n_per_class)
    images = 100 + 30 * torch.randn(n, 48, 48, generator=g)
    for k in range(len(EMOTIONS)):
        images[labels == k, 4 + 6 * k:8 + 6 * k, 8:40] += 80
    n_train = n_train if n_train is not None else int(0.7 * n)
    n_public = n_public if n_public is not None else (n - n_train) // 2
    usage = torch.full((n,), 2, dtype=torch.long)
    perm = torch.randperm(n, generator=g)
    usage[perm[:n_train]] = 0
    usage[perm[n_train:n_train + n_public]] = 1
    data = FaceSet(images.clamp(0, 255).to(torch.uint8), emotion=labels, usage=usage, source="toy bars")
    if n_private is not None:
        data = data.subset(torch.cat([perm[:n_train + n_public], perm[n_train + n_public:][:n_private]]))
    return data


# ------------------------------------------------------------------------------------------- augmentation
def test_random_crop_flip_takes_windows_of_each_face():
    faces = torch.randint(0, 256, (5, 48, 48), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    out = random_crop_flip(faces, 44, flip=True, generator=torch.Generator().manual_seed(0))
    assert out.shape == (5, 44, 44) and out.dtype == torch.uint8
    for face, crop in zip(faces, out):
        windows = [face[y:y + 44, x:x + 44] for y in range(5) for x in range(5)]
        assert any(torch.equal(crop, w) or torch.equal(crop, w.flip(-1)) for w in windows)


def test_random_crop_flip_is_seeded_and_flips_about_half():
    faces = torch.randint(0, 256, (400, 48, 48), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    a = random_crop_flip(faces, generator=torch.Generator().manual_seed(5))
    b = random_crop_flip(faces, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    ramp = torch.arange(48, dtype=torch.uint8).expand(400, 48, 48).contiguous()
    crops = random_crop_flip(ramp, generator=torch.Generator().manual_seed(3))
    mirrored = (crops[:, 0, 0] > crops[:, 0, -1]).float().mean()
    assert 0.4 < mirrored < 0.6


def test_center_crop_and_bad_crop_message():
    faces = torch.randint(0, 256, (2, 48, 48), dtype=torch.uint8)
    assert torch.equal(center_crop(faces, 44), faces[:, 2:46, 2:46])
    with pytest.raises(ValueError, match="does not fit"):
        center_crop(faces, 50)


def test_safe_batch_size_avoids_odd_channels_last_backward():
    assert [safe_batch_size(n, True) for n in (1, 2, 3, 4, 5, 127, 128)] == [1, 2, 2, 4, 4, 126, 128]
    assert safe_batch_size(127, False) == 127


# ----------------------------------------------------------------------------------------------- training
def test_training_lowers_loss_and_beats_chance():
    # few steps: a faster BatchNorm momentum lets the running statistics catch up for evaluation
    data = toy_faces(30)
    model, history = train_classifier(data, epochs=3, batch_size=16, bn_momentum=0.3, progress=False)
    assert list(history["epoch"]) == [1, 2, 3]
    assert history["train_loss"].iloc[-1] < 0.5 * history["train_loss"].iloc[0]
    assert history["train_acc"].iloc[-1] > 0.6
    assert history["public_acc"].iloc[-1] > 3 / len(EMOTIONS)
    assert history["private_acc"].iloc[-1] > 3 / len(EMOTIONS)
    assert not model.training
    assert model.stem.conv2.weight.is_contiguous(), "the returned model must be NCHW (safe for any backward)"


def test_odd_last_batch_trains_and_evaluates_in_channels_last():
    # 37 training faces in batches of 8 leave an odd last batch of 5; 11 and 9 evaluation faces are odd too
    data = toy_faces(10, n_train=37, n_public=11, n_private=9)
    trainer = Trainer(data, TrainConfig(epochs=1, batch_size=8, channels_last=True), progress=False)
    history = trainer.fit()
    assert trainer.channels_last
    assert history["public_acc"].notna().all() and history["private_acc"].notna().all()
    # an odd batch size: every batch loses one face, none crashes
    odd = Trainer(data, TrainConfig(epochs=1, batch_size=7, channels_last=True), progress=False)
    result = odd.train_epoch()
    assert result.images == 6 * 5 + 2  # 5 batches of 7 -> 6 and a last batch of 2
    logits = predict(odd.model, data.split("PublicTest")).logits
    assert logits.shape == (11, len(EMOTIONS)) and torch.isfinite(logits).all()


def test_train_epoch_can_stop_after_n_steps():
    trainer = Trainer(toy_faces(20), TrainConfig(batch_size=16), progress=False)
    result = trainer.train_epoch(max_steps=2)
    assert result.steps == 2 and result.images == 32 and result.images_per_s > 0


def test_resume_continues_history_and_matches_an_uninterrupted_run(tmp_path):
    data = toy_faces(12)
    config = TrainConfig(epochs=2, batch_size=16, bn_momentum=0.1)
    straight = Trainer(data, config, progress=False).fit()

    first = Trainer(data, config, ckpt_dir=tmp_path, progress=False)
    first.fit(epochs=1)
    assert first.last_path.is_file() and first.progress_path.is_file()
    assert not first.best_path.exists()  # unfinished: not where the notebooks look (issue 35)
    resumed = Trainer(data, config, ckpt_dir=tmp_path, progress=False).resume()
    assert resumed.epoch == 1
    history = resumed.fit()
    assert list(history["epoch"]) == [1, 2]
    cols = ["train_loss", "train_acc", "public_loss", "public_acc", "private_loss", "private_acc"]
    pd.testing.assert_frame_equal(history[cols], straight[cols], rtol=1e-5)


def test_resume_from_weights_only_checkpoint_says_what_to_use(tmp_path):
    trainer = Trainer(toy_faces(8), TrainConfig(epochs=1, batch_size=16), ckpt_dir=tmp_path, progress=False)
    trainer.fit()
    with pytest.raises(ValueError, match="_last.pt"):
        Trainer(toy_faces(8), TrainConfig(), progress=False).resume(trainer.best_path)


def test_seeded_runs_are_identical():
    data = toy_faces(10)
    a = Trainer(data, TrainConfig(epochs=1, batch_size=16), progress=False).fit()
    b = Trainer(data, TrainConfig(epochs=1, batch_size=16), progress=False).fit()
    assert a["train_loss"].tolist() == b["train_loss"].tolist()
    assert a["public_acc"].tolist() == b["public_acc"].tolist()


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_checkpoint(tmp_path):
    trainer = Trainer(toy_faces(10), TrainConfig(epochs=2, batch_size=16), ckpt_dir=tmp_path, progress=False)
    trainer.fit(epochs=1)
    saved = trainer.last_path.read_bytes()
    with torch.no_grad():
        trainer.model.last_conv.bias[0] = float("nan")
    with pytest.raises(TrainingDiverged, match=r"loss became nan at epoch 2, step 1.*Lower the learning rate"):
        trainer.fit()
    assert trainer.epoch == 1
    assert trainer.last_path.read_bytes() == saved


def test_bad_config_is_reported():
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="no 'Training' rows"):
        Trainer(toy_faces(3).split("PublicTest"), progress=False)


# ---------------------------------------------------------------------------------------------- checkpoints
def test_checkpoint_round_trip_and_lookup_by_name(tmp_path):
    model = MiniXception(bn_momentum=0.99).eval()
    path = save_emotion_model(model, tmp_path / "emotion_minixception.pt", note="x")
    loaded = load_emotion_model(path)
    assert loaded.config["bn_momentum"] == 0.99
    x = torch.randn(3, 1, 44, 44)
    assert torch.allclose(model(x), loaded(x))
    by_name = load_emotion_model("emotion_minixception.pt", ckpt_dir=tmp_path)
    assert torch.allclose(model(x), by_name(x))


def test_wrong_checkpoint_lists_missing_and_unexpected_keys(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"state_dict": torch.nn.Linear(3, 2).state_dict(), "config": {}}, path)
    with pytest.raises(ValueError, match=r"missing keys: .*stem\.conv1\.weight(.|\n)*unexpected keys: weight, bias"):
        load_emotion_model(path)
    torch.save({"arch": "ResNet", "state_dict": {}}, path)
    with pytest.raises(ValueError, match="'ResNet' model"):
        load_emotion_model(path)
    with pytest.raises(FileNotFoundError, match="train it"):
        load_emotion_model(tmp_path / "missing.pt")


# ------------------------------------------------------------------------------------------ metrics, plots
def test_metrics_on_known_predictions():
    labels = [0, 0, 1, 1, 2, 2, 2, 3]
    pred = [0, 1, 1, 1, 2, 2, 0, 3]
    cm = confusion(labels, pred, normalize=True)
    assert cm.loc["angry", "angry"] == 0.5 and cm.loc["fear", "fear"] == pytest.approx(2 / 3)
    assert cm.loc["happy"].sum() == 1 and cm.loc["sad"].sum() == 0
    assert confusion(labels, pred).to_numpy().sum() == 8
    table = per_class_report(labels, pred)
    assert table.loc["disgust", "precision"] == pytest.approx(2 / 3)
    assert table.loc["disgust", "recall"] == 1 and table.loc["angry", "support"] == 2
    stats = summarize(labels, pred)
    assert stats["accuracy"] == 6 / 8
    assert stats["balanced_accuracy"] == pytest.approx((0.5 + 1 + 2 / 3 + 1) / 4)
    assert stats["recall_disgust"] == 1


def test_predict_matches_a_manual_forward():
    data = toy_faces(3)
    model = MiniXception().eval()
    from facekit.emotion import preprocess
    manual = model(preprocess(center_crop(data.images)))
    preds = predict(model, data, batch_size=5)
    assert torch.allclose(preds.logits, manual, atol=1e-5)
    assert preds.labels is not None and 0 <= preds.accuracy <= 1


def test_plots_return_figures():
    history = pd.DataFrame({"epoch": [1, 2], "train_loss": [2.0, 1.5], "train_acc": [0.2, 0.4],
                            "public_loss": [1.9, 1.6], "public_acc": [0.25, 0.35],
                            "private_loss": [1.9, 1.7], "private_acc": [0.24, 0.33]})
    for fig in (plot_loss(history), plot_acc(history, chance=0.25),
                plot_confusion(confusion([0, 1, 2], [0, 1, 1], normalize=True))):
        assert len(fig.axes[0].lines) + len(fig.axes[0].collections) > 0
    assert len(plot_acc(history).axes[0].lines) == 3
    with pytest.raises(ValueError, match="empty"):
        plot_loss(pd.DataFrame())


# ------------------------------------------------------------------------------------------------ notebook
@pytest.mark.notebook
def test_emotion_training_notebook_writes_curves_metrics_and_checkpoint(run_notebook, workbook_dir):
    import json

    out = run_notebook("02_emotion_training")
    for name in ("loss.png", "accuracy.png", "confusion.png", "bn_momentum.png"):
        assert (out / name).stat().st_size > 5000, f"{name} missing or empty"
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("train_acc", "train_loss", "private_acc", "private_loss", "macro_f1", "balanced_accuracy",
                "disgust_recall", "epochs", "wall_s"):
        assert key in metrics, f"metrics.json lacks {key}"
    assert metrics["epochs"] == 1 and metrics["n_params"] == 56_951
    assert 0 <= metrics["private_acc"] <= 1 and metrics["private_loss"] > 0
    per_class = pd.read_csv(out / "per_class.csv", index_col=0)
    assert list(per_class.index) == [*EMOTIONS, "macro"]
    assert {"precision", "recall", "f1", "support", "train_count"} <= set(per_class.columns)
    history = pd.read_csv(out / "history.csv")
    assert {"train_acc", "public_acc", "private_acc", "private_loss"} <= set(history.columns)
    model = load_emotion_model("emotion_minixception.pt", ckpt_dir=workbook_dir / "checkpoints")
    assert isinstance(model, MiniXception)
