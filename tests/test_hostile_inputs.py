"""What the workbook refuses, and why (issue 13): inputs a hostile or careless user really feeds it.

Read top to bottom as a list: each test is one case, its docstring says what happens now. Grouped by area:
checkpoints, AU labels and the FAU trainer, the emotion trainer, FER2013 files and folders, images, the command
line. Everything here is small and fast (toy data, tiny models, no rendering).
"""
from __future__ import annotations

import builtins
import gzip
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import facekit.paths
from facekit.data import FaceSet
from facekit.data.fer import EMOTIONS
from facekit.data.loaders import DataError, load_au_labels, load_fer2013, read_image, real_fer2013_path
from facekit.io import CheckpointError, convert_checkpoint, load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "data" / "checkpoints").glob("*.pt"))
PIX = " ".join(["7"] * 2304)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_emotion_checkpoint(path: Path) -> Path:
    from facekit.emotion import MiniXception, save_emotion_model

    torch.manual_seed(0)
    return save_emotion_model(MiniXception(), path)


def tiny_fau_model():
    from facekit.fau.model import FAUConfig, build_fau_model

    torch.manual_seed(0)
    return build_fau_model(FAUConfig(base_width=8, deconv_filters=(16, 16, 16), input_size=64))


def toy_faces(n_per_class=12, seed=0, splits=(0, 1, 2)) -> FaceSet:
    """Noise faces with a bar whose height is the label; ``splits`` are the usage codes assigned in turn."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(len(EMOTIONS)).repeat(n_per_class)
    images = 100 + 30 * torch.randn(len(labels), 48, 48, generator=g)
    for k in range(len(EMOTIONS)):
        images[labels == k, 4 + 6 * k:8 + 6 * k, 8:40] += 80
    usage = torch.tensor([splits[i % len(splits)] for i in range(len(labels))])
    return FaceSet(images.clamp(0, 255).to(torch.uint8), emotion=labels, usage=usage, source=f"toy bars seed {seed}")


def toy_au(n=8, seed=0, size=64):

    rng = np.random.default_rng(seed)
    pts = rng.uniform(16, 48, (n, 5, 2, 2)).astype(np.float32)
    return FaceSet(torch.from_numpy(rng.integers(0, 255, (n, size, size), dtype=np.uint8)),
                   au=torch.from_numpy(rng.uniform(0, 5, (n, 5)).astype(np.float32)), aus=(6, 10, 12, 14, 17),
                   points=torch.from_numpy(pts), source="toy")


def write_png(path: Path, value=128, size=48, orientation: int | None = None, suffix=None) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(np.full((size, size), value, np.uint8))
    if orientation is None:
        img.save(path)
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        img.save(path, exif=exif)
    return path


# ============================================================================================== checkpoints

class _RunsCode:
    """Unpickling this object runs code (it writes a marker file): what a malicious .pt file does."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return builtins.exec, (f"open({str(self.marker)!r}, 'w').close()",)


@pytest.mark.parametrize("loader", ["load_checkpoint", "load_emotion_model", "load_fau_model", "resume"])
def test_a_checkpoint_that_would_run_code_is_refused_without_running_it(tmp_path, loader):
    """Bug 1: every checkpoint is read with torch.load(weights_only=True); a crafted pickle never runs."""
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "payload": _RunsCode(marker), "optimizer": {}, "generator": None}, evil)
    from facekit.emotion import Trainer, load_emotion_model
    from facekit.fau import load_fau_model

    call = {"load_checkpoint": load_checkpoint, "load_emotion_model": load_emotion_model,
            "load_fau_model": load_fau_model,
            "resume": lambda p: Trainer(toy_faces(2), progress=False).resume(p)}[loader]
    with pytest.raises(CheckpointError, match=r"was NOT loaded.*would run code"):
        call(evil)
    assert not marker.exists(), "loading the checkpoint ran the code inside it"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_checkpoints_load_with_weights_only(path):
    """Bug 1: the shipped checkpoints hold only tensors and plain Python values (no TorchVersion, no NumPy)."""
    obj = torch.load(path, map_location="cpu", weights_only=True)
    assert obj["state_dict"] and all(torch.isfinite(v).all() for v in obj["state_dict"].values()
                                     if v.is_floating_point())


def test_save_checkpoint_stores_plain_types(tmp_path):
    """Bug 1: save_checkpoint converts NumPy scalars, TorchVersion and paths, so its files load safely."""
    path = save_checkpoint({"state_dict": {"w": torch.ones(2)}, "metrics": {
        "acc": np.float64(0.5), "n": np.int64(3), "torch": torch.__version__, "where": tmp_path, "ok": np.bool_(True)},
        "history": [{"val_icc": np.float32(0.25)}]}, tmp_path / "c.pt")
    obj = torch.load(path, weights_only=True)
    assert obj["metrics"] == {"acc": 0.5, "n": 3, "torch": str(torch.__version__), "where": str(tmp_path), "ok": True}
    assert type(obj["metrics"]["acc"]) is float and type(obj["metrics"]["torch"]) is str
    assert type(obj["history"][0]["val_icc"]) is float


def test_an_old_format_checkpoint_says_what_it_is_and_converts_only_when_trusted(tmp_path):
    """Bug 1: a facekit checkpoint from before the fix (TorchVersion, NumPy scalars) gets an error that names the
    old format and the one-line conversion; conversion needs trust=True and keeps the weights bit for bit."""
    path = tmp_path / "old.pt"
    weights = {"w": torch.randn(3, 3)}
    torch.save({"state_dict": weights, "metrics": {"torch": torch.__version__, "acc": np.float64(0.5)}}, path)
    with pytest.raises(CheckpointError, match=r"old format.*convert_checkpoint.*trust=True"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="can run code"):
        convert_checkpoint(path)
    convert_checkpoint(path, trust=True)
    obj = load_checkpoint(path)
    assert torch.equal(obj["state_dict"]["w"], weights["w"]) and obj["metrics"]["acc"] == 0.5


def test_nan_weights_are_never_written_and_never_loaded(tmp_path):
    """Weak: NaN weights used to load silently; now save_checkpoint refuses them and load_checkpoint too."""
    bad = {"state_dict": {"conv.weight": torch.tensor([1.0, float("nan")])}}
    with pytest.raises(CheckpointError, match=r"Refusing to write .*not finite.*conv.weight"):
        save_checkpoint(bad, tmp_path / "nan.pt")
    assert not (tmp_path / "nan.pt").exists()
    torch.save(bad, tmp_path / "nan.pt")
    with pytest.raises(CheckpointError, match=r"non-finite weights \(NaN or inf in conv.weight"):
        load_checkpoint(tmp_path / "nan.pt")


def test_a_shipped_checkpoint_is_not_replaced_by_one_with_nan_metrics(tmp_path, monkeypatch):
    """Bug 2: a file in data/checkpoints/ is never replaced by a model whose metrics or validation scores are NaN
    (elsewhere such a file may be written: it is a record of a failed run)."""
    shipped = tmp_path / "data" / "checkpoints"
    monkeypatch.setattr(facekit.paths, "shipped_checkpoint_dir", lambda: shipped)
    good = save_checkpoint({"state_dict": {"w": torch.ones(2)}}, shipped / "fau_resnet.pt").read_bytes()
    nan_run = {"state_dict": {"w": torch.ones(2)}, "history": [{"epoch": 1, "val_icc": float("nan")}]}
    with pytest.raises(CheckpointError, match=r"metrics are not finite.*history\[-1\].val_icc.*left as it was"):
        save_checkpoint(nan_run, shipped / "fau_resnet.pt")
    assert (shipped / "fau_resnet.pt").read_bytes() == good
    save_checkpoint(nan_run, tmp_path / "build" / "fau_resnet_train.pt")  # a training record: allowed


def test_doctor_strict_loads_every_checkpoint(tmp_path, monkeypatch):
    """Weak: `facekit doctor --strict` said ok for a truncated checkpoint; now it loads each one."""
    import facekit.doctor as doctor

    (tmp_path / "data" / "checkpoints").mkdir(parents=True)
    (tmp_path / "data" / "checkpoints" / "m.pt").write_bytes(SHIPPED[0].read_bytes()[:5000])
    monkeypatch.setattr(doctor, "REQUIRED_FILES", (("data/checkpoints/m.pt", "a model", "03"),))
    monkeypatch.setattr(facekit.paths, "repo_root", lambda *a: tmp_path)
    text, ok = doctor.report()
    assert not ok and "data/checkpoints/m.pt" in text and "BROKEN (CheckpointError" in text


def test_a_data_cache_that_would_run_code_is_not_run_but_regenerated(tmp_path, monkeypatch):
    """Bug 1: the synthetic-data cache is also read with weights_only=True; a crafted cache file is replaced by a
    freshly generated one, and what is written loads safely."""
    import facekit.synth
    from facekit.emotion import data as emotion_data

    monkeypatch.setattr(facekit.paths, "cache_dir", lambda *parts: tmp_path.joinpath(*parts))
    monkeypatch.setattr(emotion_data, "real_fer2013_path", lambda: None)
    faces = toy_faces(2)
    faces.meta = {"render_rate_faces_per_s": np.float64(10.0), "n_scale": np.float32(0.1)}
    monkeypatch.setattr(emotion_data, "make_fer_dataset", lambda **k: faces)
    cache = emotion_data.synthetic_cache_path(0.1, 0, "lab")
    cache.parent.mkdir(parents=True)
    marker = tmp_path / "pwned"
    torch.save({"images": _RunsCode(marker)}, cache)
    assert len(emotion_data.load_emotion_data(0.1, verbose=False)) == len(faces)
    assert not marker.exists()
    assert torch.equal(torch.load(cache, weights_only=True)["emotion"], faces.emotion)


def test_emotion_and_fau_checkpoints_mixed_up_say_which_loader_to_use(tmp_path):
    """Weak: an emotion checkpoint given to the FAU loader advised "git pull"; now each says what the file is."""
    from facekit.emotion import load_emotion_model
    from facekit.fau import load_fau_model
    from facekit.fau.model import fau_checkpoint

    emotion = tiny_emotion_checkpoint(tmp_path / "emotion.pt")
    with pytest.raises(ValueError, match=r"'MiniXception' model.*load_emotion_model") as err:
        load_fau_model(emotion)
    assert "git pull" not in str(err.value)
    fau = save_checkpoint(fau_checkpoint(tiny_fau_model()), tmp_path / "fau.pt")
    with pytest.raises(ValueError, match=r"'fau_resnet' model.*load_fau_model"):
        load_emotion_model(fau)


# ============================================================================ AU labels and the FAU trainer

def _au_csv(tmp_path, value="2.5", header="path,AU6,AU10,AU12,AU14,AU17"):
    write_png(tmp_path / "a.png", 90, size=64)
    write_png(tmp_path / "b.png", 120, size=64)
    rows = ["a.png,1,2,3,4,5", f"b.png,1,2,{value},4,5"]
    path = tmp_path / "labels.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


@pytest.mark.parametrize("value,message", [
    ("", r"row 2 \(line 3\): AU12 is empty"),
    ("nan", r"row 2 \(line 3\): AU12 is empty \('nan'\)"),
    ("lots", r"row 2 \(line 3\): AU12 = 'lots' is not a number"),
    ("6", r"row 2 \(line 3\): AU12 = 6 is outside the FACS 0-5"),
])
def test_au_csv_rejects_empty_nan_text_and_out_of_range_intensities_naming_the_row(tmp_path, value, message):
    """Bug 2 and weak: empty/NaN intensities used to pass (a NaN model followed); now each bad cell names its row
    and column, and "nan" is no longer reported as "outside 0-5"."""
    from facekit.fau.data import load_au_csv

    with pytest.raises(DataError, match=message):
        load_au_csv(_au_csv(tmp_path, value), size=64)


def test_au_csv_header_only_says_so(tmp_path):
    """Weak: a header-only AU CSV gave a raw NumPy error."""
    from facekit.fau.data import load_au_csv

    path = tmp_path / "labels.csv"
    path.write_text("path,AU6,AU10,AU12,AU14,AU17\n")
    with pytest.raises(DataError, match="has a header but no rows"):
        load_au_csv(path)


def test_au06_style_names_are_read_by_both_au_loaders(tmp_path):
    """Weak: AU06 names were accepted by load_au_labels and refused by load_au_csv; both read them now."""
    from facekit.fau.data import load_au_csv

    path = _au_csv(tmp_path, header="path,AU06,AU010,au12,AU14,17")
    assert load_au_csv(path, size=64).au[1].tolist() == [1, 2, 2.5, 4, 5]
    assert load_au_labels(path, size=64)[1]["AU12"].tolist() == [3, 2.5]


def test_load_au_labels_reads_nan_as_unknown_like_an_empty_cell(tmp_path):
    """Weak: "nan" in load_au_labels (which documents empty = unknown) was reported as "outside 0-5"; it is
    unknown now, like an empty cell, and text still names its row."""
    path = _au_csv(tmp_path, "nan")
    assert np.isnan(load_au_labels(path, size=64)[1]["AU12"].iloc[1])
    with pytest.raises(DataError, match=r"row 2: AU12 = 'lots' is not a number"):
        load_au_labels(_au_csv(tmp_path, "lots"), size=64)


def test_fau_trainer_stops_on_a_non_finite_loss_and_writes_nothing(tmp_path):
    """Bug 2: the FAU trainer had no divergence check; now a NaN loss stops it, says where the last good weights
    are (here: nowhere) and writes no checkpoint."""
    from facekit.fau.train import FAUTrainingDiverged, train_fau

    model = tiny_fau_model()
    with torch.no_grad():
        model.final_layer.bias.fill_(float("nan"))
    with pytest.raises(FAUTrainingDiverged, match=r"loss became nan at epoch 1, step 1.*nowhere"):
        train_fau(model, toy_au(), epochs=1, batch_size=4, ckpt_path=tmp_path / "f.pt", progress=False)
    assert not (tmp_path / "f.pt").exists()


def test_fau_resume_with_another_recipe_is_refused_naming_each_difference(tmp_path):
    """Bug 6 (FAU): --resume with another --lr/--seed used to continue silently; now every difference is named."""
    from facekit.fau.train import train_fau

    ckpt = tmp_path / "f.pt"
    kw = dict(epochs=2, batch_size=4, progress=False, ckpt_path=ckpt, augment=False)
    train_fau(tiny_fau_model(), toy_au(), lr=1e-3, stop_after=1, **kw)
    with pytest.raises(ValueError, match=r"lr: checkpoint 0.001, now 0.002; seed: checkpoint 0, now 1"):
        train_fau(tiny_fau_model(), toy_au(), lr=2e-3, seed=1, resume=True, **kw)
    with pytest.raises(ValueError, match=r"data: checkpoint '8 faces.*now '6 faces"):
        train_fau(tiny_fau_model(), toy_au(6), lr=1e-3, resume=True, **kw)
    assert len(train_fau(tiny_fau_model(), toy_au(), lr=1e-3, resume=True, **kw)) == 2  # same recipe: resumes


def test_train_fau_with_real_labels_but_no_validation_csv_is_refused_up_front(tmp_path, monkeypatch):
    """Bug 5: `train-fau --train-csv` without `--val-csv` failed after training; now before anything runs."""
    from facekit.fau import train as fau_train

    monkeypatch.setattr("facekit.fau.data.load_au_csv", lambda *a, **k: pytest.fail("data loaded"))
    with pytest.raises(ValueError, match="--train-csv needs --val-csv"):
        fau_train.pretrain_fau(tmp_path / "f.pt", train_csv=str(tmp_path / "train.csv"))


# ==================================================================================== the emotion trainer

def test_emotion_resume_with_another_recipe_or_data_is_refused(tmp_path):
    """Bug 6: a resume with different --lr, --seed, --batch-size or data (--n-scale) used to continue with the old
    optimiser state; now it names each difference."""
    from facekit.emotion import TrainConfig, Trainer

    data = toy_faces()
    Trainer(data, TrainConfig(epochs=1, batch_size=32), ckpt_dir=tmp_path, progress=False).fit()
    other = Trainer(data, TrainConfig(epochs=2, batch_size=16, lr=0.02), ckpt_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match=r"batch_size: checkpoint 32, now 16; lr: checkpoint 0.01, now 0.02"):
        other.resume()
    smaller = Trainer(toy_faces(10, seed=1), TrainConfig(epochs=2, batch_size=32), ckpt_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match=r"data_source: .*seed 0.*seed 1.*data: checkpoint '84 faces"):
        smaller.resume()
    same = Trainer(data, TrainConfig(epochs=2, batch_size=32), ckpt_dir=tmp_path, progress=False).resume()
    assert same.epoch == 1  # the same recipe with more epochs resumes


def test_divergence_message_names_only_a_checkpoint_that_exists(tmp_path):
    """Weak: a divergence in the first epoch pointed at a `*_last.pt` that did not exist."""
    from facekit.emotion import TrainConfig, Trainer, TrainingDiverged

    trainer = Trainer(toy_faces(), TrainConfig(epochs=1, batch_size=32), ckpt_dir=tmp_path, progress=False)
    with torch.no_grad():
        trainer.model.last_conv.bias[0] = float("nan")
    with pytest.raises(TrainingDiverged, match="nowhere: no epoch finished") as err:
        trainer.fit()
    assert "_last.pt" not in str(err.value)


def _train_emotions(monkeypatch, tmp_path, args, data=None):
    """Run `facekit train-emotions ARGS` on toy data, with build/ and data/checkpoints/ under tmp_path."""
    from facekit_tools.cli import main

    shipped, build = tmp_path / "data" / "checkpoints", tmp_path / "build"
    monkeypatch.setattr(facekit.paths, "shipped_checkpoint_dir", lambda: shipped)
    monkeypatch.setattr(facekit.paths, "build_dir", lambda *parts: build.joinpath(*parts))
    monkeypatch.setattr("facekit.emotion.cli.load_emotion_data",
                        lambda *a, **k: data if data is not None else pytest.fail("data loaded"))
    return main(["train-emotions", "--epochs", "1", "--batch-size", "32", "--no-progress", "--threads", "1", *args])


def test_train_emotions_writes_to_build_and_replaces_a_shipped_file_only_with_ship(tmp_path, monkeypatch, capsys):
    """Weak: `train-emotions` without --out replaced the shipped checkpoint; now it writes
    build/checkpoints/train-emotions/ (where notebooks do not pick it up instead of the shipped one), an --out inside
    data/checkpoints/ is refused, and only --ship replaces the shipped file."""
    shipped = tiny_emotion_checkpoint(tmp_path / "data" / "checkpoints" / "emotion_minixception.pt")
    before = shipped.read_bytes()
    assert _train_emotions(monkeypatch, tmp_path, [], toy_faces()) == 0
    assert (tmp_path / "build" / "checkpoints" / "train-emotions" / "emotion_minixception.pt").is_file()
    assert not (tmp_path / "build" / "checkpoints" / "emotion_minixception.pt").exists()  # notebooks would prefer it
    assert shipped.read_bytes() == before
    assert _train_emotions(monkeypatch, tmp_path, ["--out", str(shipped)]) == 2
    assert "is a shipped checkpoint; replace it only with --ship" in capsys.readouterr().err
    assert shipped.read_bytes() == before
    assert _train_emotions(monkeypatch, tmp_path, ["--ship"], toy_faces()) == 0
    assert shipped.read_bytes() != before


def test_train_emotions_refuses_an_existing_out_without_force(tmp_path, monkeypatch, capsys):
    """Weak: an existing file named with --out was replaced without a word."""
    mine = tmp_path / "mine.pt"
    mine.write_bytes(b"my notes")
    assert _train_emotions(monkeypatch, tmp_path, ["--out", str(mine)]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err and mine.read_bytes() == b"my notes"


def test_train_emotions_on_training_only_data_finishes_and_reports_what_exists(tmp_path, monkeypatch, capsys):
    """Bug 8: train-only data crashed after all epochs (empty PrivateTest); now a note up front, and the held-out
    scores are null in the metrics."""
    import json

    assert _train_emotions(monkeypatch, tmp_path, [], toy_faces(splits=(0,))) == 0
    out = capsys.readouterr()
    assert "no PrivateTest rows" in out.err and "no PublicTest rows" in out.err
    metrics = json.loads(out.out[out.out.index("{"):])
    assert metrics["private_acc"] is None and metrics["macro_f1"] is None and metrics["train_acc"] > 0


@pytest.mark.parametrize("args", [["--epochs", "0"], ["--lr", "-1"], ["--lr", "nan"], ["--batch-size", "0"],
                                  ["--n-scale", "inf"], ["--n-scale", "1000"]])
def test_train_emotions_bad_arguments_fail_before_the_data_loads(tmp_path, monkeypatch, args):
    """Weak: --epochs 0 / --lr -1 failed only after the data had loaded."""
    with pytest.raises(SystemExit) as exit_:
        _train_emotions(monkeypatch, tmp_path, args)
    assert exit_.value.code == 2


# ==================================================================================== FER2013 files

def _fer_csv(tmp_path, rows, header="emotion,pixels,Usage", name="fer2013.csv"):
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_usage_header_in_any_case_is_read(tmp_path):
    """Bug 3: a `usage` header was ignored and every row became Training; header names are case-insensitive."""
    data = load_fer2013(_fer_csv(tmp_path, [f"3,{PIX},training", f"0,{PIX},PublicTest", f"6,{PIX},PRIVATETEST"],
                                 header="Emotion,PIXELS,usage"))
    assert data.usage.tolist() == [0, 1, 2]


def test_missing_usage_column_is_refused_unless_a_split_is_asked_for(tmp_path):
    """Bug 3: without a split column, faces would silently all become training faces; now an error says how to
    add the column or ask for one split explicitly."""
    path = _fer_csv(tmp_path, [f"3,{PIX}", f"0,{PIX}"], header="emotion,pixels")
    with pytest.raises(DataError, match=r"no 'Usage' column.*split='Training'"):
        load_fer2013(path)
    assert load_fer2013(path, split="PrivateTest").usage.tolist() == [2, 2]


def test_pixels_separated_by_double_spaces_tabs_or_newlines_are_read(tmp_path):
    """Bug 7: valid pixel strings with double spaces or tabs were rejected."""
    values = [str(v % 256) for v in range(2304)]
    odd = "  ".join(values[:1000]) + "\t" + " ".join(values[1000:])
    data = load_fer2013(_fer_csv(tmp_path, [f'3,"{odd}",Training', f"0,{' '.join(values)},PublicTest"]))
    assert torch.equal(data.images[0], data.images[1])


def test_bad_pixels_name_the_file_and_row(tmp_path):
    """Bug 7 and weak: errors name file and row; fractional pixels are refused instead of truncated."""
    bad = " ".join(["7"] * 2303 + ["7.5"])
    path = _fer_csv(tmp_path, [f"3,{PIX},Training", f"1,{bad},Training"])
    with pytest.raises(DataError, match=r"fer2013.csv row 2 \(line 3\): pixel value '7.5' is not a whole number"):
        load_fer2013(path)


def test_a_header_less_csv_gets_a_short_error(tmp_path):
    """Weak: a header-less CSV's error carried a 9 KB pixel string; now the found columns are cut short."""
    path = _fer_csv(tmp_path, [f"0,{PIX},Training"], header=f"3,{PIX},Training")
    with pytest.raises(DataError, match="header line missing") as err:
        load_fer2013(path)
    assert len(str(err.value)) < 600


def test_gzip_bytes_in_a_csv_file_are_read_as_gzip(tmp_path):
    """Weak: gzip bytes in a file named .csv gave a decode error; now they are decompressed (the source says so)."""
    path = tmp_path / "fer2013.csv"
    path.write_bytes(gzip.compress(f"emotion,pixels,Usage\n3,{PIX},Training\n".encode()))
    data = load_fer2013(path)
    assert data.emotion.tolist() == [3] and "gzip" in data.source


@pytest.mark.parametrize("entry,used", [("FER2013.CSV", True), ("fer2013.csv.gz", True), ("train_data.csv", False),
                                        ("nested/fer2013.csv", True)])
def test_the_synthetic_fallback_names_the_file_it_ignored(tmp_path, monkeypatch, entry, used):
    """Weak: data/fer2013/ holding FER2013.CSV, another CSV name, a nested folder or a .gz fell back to synthetic
    faces without a word; now the upper-case and gzipped names and a fer2013.csv one folder down (the course's
    dataset/) are used, and anything else is named in a warning."""
    folder = tmp_path / "fer2013"
    path = folder / entry
    path.parent.mkdir(parents=True)
    content = f"emotion,pixels,Usage\n3,{PIX},Training\n".encode()
    path.write_bytes(gzip.compress(content) if entry.endswith(".gz") else content)
    monkeypatch.setattr(facekit.paths, "data_dir", lambda *parts: tmp_path.joinpath(*parts))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = real_fer2013_path()
    if used:
        assert found == path.parent and load_fer2013(found).emotion.tolist() == [3]
    else:
        assert found is None
        assert any(entry.split("/")[0] in str(w.message) and "synthetic faces are used" in str(w.message)
                   for w in caught)


def test_kaggle_folders_skip_hidden_entries_and_count_what_they_resize_or_ignore(tmp_path):
    """Weak: macOS `._*` files and `.ipynb_checkpoints/` aborted the load; wrong sizes were squashed and .gif/.webp,
    sub-folder and loose files ignored without a word. Now hidden entries are skipped and one warning each counts
    the resized and the ignored files."""
    write_png(tmp_path / "train" / "happy" / "a.png")
    write_png(tmp_path / "train" / "happy" / "b.png", size=64)
    write_png(tmp_path / "train" / "happy" / "c.png", size=100)
    write_png(tmp_path / "test" / "sad" / "d.png")
    (tmp_path / "train" / "happy" / "._a.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (tmp_path / "train" / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".DS_Store").write_bytes(b"junk")
    write_png(tmp_path / "train" / "happy" / "e.gif")
    write_png(tmp_path / "train" / "happy" / "more" / "f.png")
    write_png(tmp_path / "test" / "loose.png")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_fer2013(tmp_path)
    assert len(data) == 4 and data.meta["resized"] == 2 and len(data.meta["ignored"]) == 3
    messages = [str(w.message) for w in caught]
    assert sum("2 of 4 images were not 48x48" in m for m in messages) == 1
    assert sum("3 file(s) not read" in m and "e.gif" in m for m in messages) == 1


def test_test_folder_labels_csv_with_a_bom_is_read(tmp_path):
    """Weak: a labels.csv saved by Excel as "CSV UTF-8" (with a BOM) was refused."""
    from facekit.data.faces import read_labels

    (tmp_path / "labels.csv").write_bytes("file,label\nface1.png,happy\n".encode("utf-8-sig"))
    assert read_labels(tmp_path) == {"face1": "happy"}


# ================================================================================================ images

def _sideways(path: Path, size=64) -> Path:
    """A face photo stored the way a phone stores a portrait: pixels bright at the top, EXIF orientation 6
    ("rotate 90 degrees clockwise to view"), so the viewer shows it bright on the right."""
    from PIL import Image

    pixels = np.full((size, size), 30, np.uint8)
    pixels[: size // 2] = 220
    exif = Image.Exif()
    exif[0x0112] = 6
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, exif=exif, quality=95)
    return path


def _bright_on_the_right(img) -> bool:
    img = np.asarray(img, dtype=float)
    half = img.shape[1] // 2
    return img[:, half:].mean() > img[:, :half].mean() + 100


def test_load_face_folder_honours_exif_orientation(tmp_path):
    """Bug 4: phone photos came in sideways from load_face_folder; EXIF orientation is now applied."""
    from facekit.data.faces import load_face_folder

    _sideways(tmp_path / "phone.jpg")
    assert _bright_on_the_right(load_face_folder(tmp_path, detect=False).images[0])


def test_every_image_loader_honours_exif_orientation(tmp_path):
    """Bug 4: the FER folder reader, the AU label loaders and the FAU CSV loader read the same upright image."""
    from facekit.fau.data import load_au_csv

    _sideways(tmp_path / "phone.jpg")
    assert _bright_on_the_right(read_image(tmp_path / "phone.jpg"))
    (tmp_path / "labels.csv").write_text("path,AU6,AU10,AU12,AU14,AU17\nphone.jpg,1,1,1,1,1\n")
    assert _bright_on_the_right(load_au_csv(tmp_path / "labels.csv", size=64).images[0])
    assert _bright_on_the_right(load_au_labels(tmp_path / "labels.csv", size=64)[0][0])


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillow_for_all_eight_exif_values(tmp_path, orientation):
    """Bug 4: facekit's orientation handling gives exactly Pillow's exif_transpose view, in colour and grey."""
    import cv2
    from PIL import Image, ImageOps

    from facekit.data.images import imread

    rng = np.random.default_rng(orientation)
    path = tmp_path / "o.png"
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(rng.integers(0, 255, (20, 36, 3), dtype=np.uint8)).save(path, exif=exif)
    with Image.open(path) as img:
        upright = np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
    assert np.array_equal(imread(path, cv2.IMREAD_COLOR)[..., ::-1], upright)
    assert np.array_equal(imread(path, cv2.IMREAD_UNCHANGED)[..., ::-1], upright)
    assert imread(path, cv2.IMREAD_GRAYSCALE).shape == upright.shape[:2]


# ======================================================================================== the command line

@pytest.mark.parametrize("args,message", [
    (["fer", "--n-scale", "inf"], "must be a finite number above 0"),
    (["fer", "--n-scale", "1e300"], "the most is 200,000"),
    (["fer", "--n-scale", "1000"], "35,887,000 faces; the most is 200,000"),
    (["au", "--n", "-5"], "must be at least 1"),
    (["au", "--size", "8"], "must lie in 32..512 pixels"),
])
def test_synth_refuses_impossible_sizes_before_rendering(tmp_path, monkeypatch, capsys, args, message):
    """Weak: `synth --n-scale inf|1e300|1000`, `--n -5` and `--size 8` gave tracebacks or started rendering
    millions of faces; now argparse refuses them with the limit."""
    from facekit.synth.cli import main

    monkeypatch.setattr("facekit.synth.dataset.render_faces", lambda *a, **k: pytest.fail("rendering started"))
    with pytest.raises(SystemExit) as exit_:
        main(["synth", *args[:1], "--out", str(tmp_path / "x"), *args[1:]])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("kind,existing", [("fer", "out.csv"), ("fer", "out_au.csv"), ("au", "out/labels.csv")])
def test_synth_refuses_to_overwrite_without_force_and_checks_the_output_first(tmp_path, monkeypatch, capsys, kind,
                                                                              existing):
    """Weak: an existing --out (and its `_au.csv` sibling) was overwritten without a word, and an unwritable --out
    failed only after rendering; both are checked before any face is drawn."""
    from facekit.synth.cli import main

    monkeypatch.setattr("facekit.synth.dataset.render_faces", lambda *a, **k: pytest.fail("rendering started"))
    out = tmp_path / ("out.csv" if kind == "fer" else "out")
    (tmp_path / existing).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / existing).write_text("mine")
    assert main(["synth", kind, "--out", str(out)]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    (tmp_path / "a_file").write_text("")
    assert main(["synth", kind, "--out", str(tmp_path / "a_file" / "x.csv")]) == 2
    assert "Cannot write" in capsys.readouterr().err
    assert (tmp_path / existing).read_text() == "mine"


def test_train_fau_checks_its_output_before_training(tmp_path, monkeypatch, capsys):
    """Weak: an unwritable checkpoint path failed only after the first epoch; it is checked first."""
    from facekit_tools.cli import main

    monkeypatch.setattr("facekit.fau.train.pretrain_fau", lambda *a, **k: pytest.fail("training started"))
    (tmp_path / "a_file").write_text("")
    assert main(["train-fau", "--out", str(tmp_path / "a_file" / "f.pt"), "--threads", "1"]) == 2
    assert "Cannot write" in capsys.readouterr().err


@pytest.mark.parametrize("name,expected", [("02", "02_emotion_training"), ("2", "02_emotion_training"),
                                           ("02_emotion_training", "02_emotion_training"),
                                           ("02_emotion_training.ipynb", "02_emotion_training"),
                                           ("02_emotion_training.ipynbx", None), ("02_emotion", None),
                                           ("2_emotion_training", None)])
def test_facekit_run_matches_exact_names_or_numbers_only(name, expected):
    """Weak: `facekit run 02_emotion_training.ipynbx` matched notebook 02 and started a full run."""
    from facekit_tools.runner import resolve_notebooks

    if expected is None:
        with pytest.raises(FileNotFoundError, match="No single notebook matches"):
            resolve_notebooks([name])
    else:
        assert [p.stem for p in resolve_notebooks([name])] == [expected]
