"""facekit.data.loaders: FER2013 as CSV and folders, AU-label CSVs, and every malformed input's error."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from facekit.data.fer import EMOTIONS
from facekit.data.loaders import DataError, load_au_labels, load_fer2013
from facekit.emotion.data import load_emotion_data

PIX = " ".join(["128"] * 2304)


def _csv(tmp_path, rows, header="emotion,pixels,Usage"):
    path = tmp_path / "fer2013.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _png(path, value=100, size=48):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((size, size), value, np.uint8))
    return path


def test_csv_reads_labels_splits_and_pixels(tmp_path):
    pix = " ".join(str(i % 256) for i in range(2304))
    path = _csv(tmp_path, [f"3,{pix},Training", f"0,{PIX},PublicTest", f"6,{PIX},PrivateTest"])
    data = load_fer2013(path)
    assert data.images.shape == (3, 48, 48) and data.images.dtype == torch.uint8
    assert data.emotion.tolist() == [3, 0, 6] and data.usage.tolist() == [0, 1, 2]
    assert data.images[0, 0, :3].tolist() == [0, 1, 2] and data.images[0, 1, 0] == 48
    assert load_fer2013(tmp_path).emotion.tolist() == [3, 0, 6]  # the folder holding fer2013.csv


@pytest.mark.parametrize("row,message", [
    ("3," + " ".join(["1"] * 2303) + ",Training", r"row 2 \(line 3\): expected 2304 pixel values \(48x48\), found 2303"),
    ("3," + " ".join(["1"] * 2303) + " x,Training", r"row 2 .*pixel value 'x' is not a number"),
    ("7," + PIX + ",Training", r"row 2 .*emotion 7 is outside 0-6"),
    ("-1," + PIX + ",Training", r"emotion -1 is outside 0-6"),
    ("happy," + PIX + ",Training", r"emotion 'happy' is not an integer"),
    ("3," + PIX + ",Validation", r"row 2 .*unknown Usage 'Validation'; expected one of Training, PublicTest"),
    ("3," + " ".join(["300"] * 2304) + ",Training", r"pixel values must lie in 0-255"),
])
def test_csv_bad_rows_name_the_row_and_the_fix(tmp_path, row, message):
    path = _csv(tmp_path, [f"0,{PIX},Training", row])
    with pytest.raises(DataError, match=message) as err:
        load_fer2013(path)
    assert str(path) in str(err.value)


def test_csv_missing_columns(tmp_path):
    path = _csv(tmp_path, ["0,Training"], header="emotion,Usage")
    with pytest.raises(DataError, match="missing column\\(s\\) pixels.*'emotion,pixels,Usage'"):
        load_fer2013(path)


def test_csv_empty_and_header_only(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="is empty"):
        load_fer2013(empty)
    with pytest.raises(DataError, match="no faces"):
        load_fer2013(_csv(tmp_path, []))


def test_missing_path_says_where_to_get_fer2013(tmp_path):
    with pytest.raises(FileNotFoundError, match="FER2013 not found at .*kaggle"):
        load_fer2013(tmp_path / "nope.csv")


def test_folders_map_classes_by_name_not_order(tmp_path):
    _png(tmp_path / "train" / "surprise" / "a.png", 10)
    _png(tmp_path / "train" / "angry" / "b.jpg", 20)
    _png(tmp_path / "test" / "disgust" / "c.png", 30, size=64)  # resized to 48
    data = load_fer2013(tmp_path)
    by_file = dict(zip(data.meta["files"], zip(data.emotion.tolist(), data.usage.tolist())))
    assert by_file["train/surprise/a.png"] == (EMOTIONS.index("surprise"), 0)
    assert by_file["train/angry/b.jpg"] == (EMOTIONS.index("angry"), 0)
    assert by_file["test/disgust/c.png"] == (EMOTIONS.index("disgust"), 2)
    assert data.images.shape == (3, 48, 48)


def test_folders_empty_class_folder(tmp_path):
    _png(tmp_path / "train" / "happy" / "a.png")
    (tmp_path / "train" / "sad").mkdir()
    with pytest.raises(DataError, match=r"train/sad is an empty class folder"):
        load_fer2013(tmp_path)


def test_folders_unknown_class_name(tmp_path):
    _png(tmp_path / "train" / "contempt" / "a.png")
    with pytest.raises(DataError, match="'contempt' is not an emotion; rename it"):
        load_fer2013(tmp_path)


def test_folders_empty_and_unreadable_images(tmp_path):
    _png(tmp_path / "train" / "happy" / "a.png")
    bad = tmp_path / "train" / "happy" / "b.png"
    bad.write_bytes(b"")
    with pytest.raises(DataError, match=r"b.png is empty \(0 bytes\)"):
        load_fer2013(tmp_path)
    bad.write_bytes(b"not an image at all")
    with pytest.raises(DataError, match=r"b.png is unreadable"):
        load_fer2013(tmp_path)


def test_folder_without_data(tmp_path):
    (tmp_path / "stuff").mkdir()
    with pytest.raises(DataError, match="neither fer2013.csv nor split folders"):
        load_fer2013(tmp_path)


# ------------------------------------------------------------------------------------------------ AU labels

def _au_csv(tmp_path, rows, header="path,AU06,AU12"):
    _png(tmp_path / "img" / "a.png", 50, size=32)
    path = tmp_path / "aus.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_au_labels_read_images_and_columns(tmp_path):
    images, table = load_au_labels(_au_csv(tmp_path, ["img/a.png,1.5,", "img/a.png,0,5"]), size=48)
    assert images.shape == (2, 48, 48)
    assert list(table.columns) == ["path", "AU6", "AU12"]
    assert table["AU6"].tolist() == [1.5, 0.0] and np.isnan(table["AU12"][0])


@pytest.mark.parametrize("rows,header,message", [
    (["img/a.png,1,x"], "path,AU06,AU12", r"row 1: AU12 = 'x' is not a number"),
    (["img/a.png,1,7"], "path,AU06,AU12", r"row 1: AU12 = 7 is outside the FACS 0-5"),
    (["img/a.png,1"], "file,AU06", r"missing column 'path'"),
    (["img/a.png,1"], "path,score", r"no AU columns"),
    (["img/missing.png,1,1"], "path,AU06,AU12", r"row 1: Image .*missing.png does not exist"),
    ([",1,1"], "path,AU06,AU12", r"row 1: empty path"),
    ([], "path,AU06,AU12", r"header but no rows"),
])
def test_au_labels_bad_input(tmp_path, rows, header, message):
    with pytest.raises(DataError, match=message):
        load_au_labels(_au_csv(tmp_path, rows, header))


def test_au_labels_unreadable_image_and_missing_csv(tmp_path):
    path = _au_csv(tmp_path, ["img/bad.png,1,1"])
    (tmp_path / "img" / "bad.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DataError, match=r"row 1: Image .*bad.png is unreadable"):
        load_au_labels(path)
    with pytest.raises(FileNotFoundError, match="AU label file"):
        load_au_labels(tmp_path / "none.csv")


def test_load_emotion_data_caches_synthetic_faces(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FACEKIT_CACHE", str(tmp_path))
    import facekit.emotion.data as emotion_data
    monkeypatch.setattr(emotion_data, "real_fer2013_path", lambda: None)
    first = load_emotion_data(n_scale=0.005, seed=2)
    assert "synthetic" in capsys.readouterr().out
    files = list((tmp_path / "synth").glob("*.pt"))
    assert len(files) == 1 and "s0.005_seed2" in files[0].name
    again = load_emotion_data(n_scale=0.005, seed=2)
    assert "cached" in capsys.readouterr().out
    assert torch.equal(first.images, again.images) and torch.equal(first.au, again.au)


def test_load_emotion_data_prefers_real_fer2013(tmp_path, monkeypatch, capsys):
    path = _csv(tmp_path, [f"3,{PIX},Training"])
    import facekit.emotion.data as emotion_data
    monkeypatch.setattr(emotion_data, "real_fer2013_path", lambda: path.parent)
    data = load_emotion_data()
    assert len(data) == 1 and "real FER2013" in capsys.readouterr().out
