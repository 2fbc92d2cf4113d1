"""Loading faces from any folder: detection, centre-crop fallback, skipped files, empty folders."""
import warnings

import cv2
import numpy as np
import pytest
import torch

from facekit import assets
from facekit.data import faces


def _write(path, image):
    assert cv2.imwrite(str(path), image)


def test_detects_real_face_and_falls_back_to_centre_crop(tmp_path):
    astronaut = assets.load_real_photos()[0].image
    _write(tmp_path / "a_astronaut.png", cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    _write(tmp_path / "b_noise.png", np.random.default_rng(0).integers(0, 255, (300, 200), dtype=np.uint8))
    crops = faces.load_face_folder(tmp_path, size=48)
    assert crops.images.shape == (2, 48, 48) and crops.images.dtype == torch.uint8
    assert crops.extra["detected"].tolist() == [True, False]
    assert "centre crop" in crops.extra["notes"][1]
    assert crops.extra["boxes"][1].tolist() == [0, 50, 200, 200]
    x, y, w, h = crops.extra["boxes"][0].tolist()
    assert 100 < x + w / 2 < 300 and w < 300  # the face, not the whole 512x512 photo


def test_skips_unreadable_and_non_images_with_warning(tmp_path):
    _write(tmp_path / "face.png", np.full((48, 48), 128, np.uint8))
    (tmp_path / "notes.json").write_text("{}")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        crops = faces.load_face_folder(tmp_path)
    messages = " ".join(str(w.message) for w in caught)
    assert "notes.json" in messages and "broken.jpg" in messages
    assert crops.names == ["face"] and len(crops.meta["skipped"]) == 2
    assert crops.extra["notes"] == ["face.png: already a face crop: used whole"]


def test_empty_folder_names_it(tmp_path):
    with pytest.raises(ValueError, match=str(tmp_path)):
        faces.load_face_folder(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        faces.load_face_folder(tmp_path / "missing")


def test_labels_file_and_resize(tmp_path):
    _write(tmp_path / "happy.png", np.zeros((64, 64), np.uint8))
    (tmp_path / "labels.csv").write_text("file,label,why\nhappy.png,happy,test\n")
    crops = faces.load_face_folder(tmp_path, size=32)
    assert crops.emotion_names == ["happy"] and crops.images.shape == (1, 32, 32)


def test_to_gray_rejects_odd_shapes():
    with pytest.raises(ValueError, match="shape"):
        faces.to_gray(np.zeros((4, 4, 2), np.uint8))
