"""The one face-set type (facekit.data.FaceSet): validation, subset/split/class_counts/frame, and every loader and
renderer returning it."""
import importlib
import pkgutil

import numpy as np
import pytest
import torch

import facekit
from facekit.data import EMOTIONS, FaceSet


def small_set(n=6) -> FaceSet:
    g = torch.Generator().manual_seed(0)
    return FaceSet(torch.randint(0, 256, (n, 8, 8), dtype=torch.uint8, generator=g),
                   emotion=torch.arange(n) % 7, clean_emotion=(torch.arange(n) + 1) % 7,
                   au=torch.rand(n, 2, generator=g) * 5, aus=(6, 12), points=torch.rand(n, 2, 2, 2, generator=g),
                   landmarks=torch.rand(n, 3, 2, generator=g), usage=torch.tensor([0, 0, 0, 1, 2, 2])[:n],
                   source="toy", meta={"domain": "lab", "landmark_names": ("a", "b", "c")},
                   extra={"boxes": torch.arange(4 * n).reshape(n, 4), "notes": [f"note {i}" for i in range(n)],
                          "detected": np.arange(n) % 2 == 0, "geometry": {"roll": torch.arange(n) * 0.1}})


def test_validation_names_the_field():
    images = torch.zeros(3, 8, 8, dtype=torch.uint8)
    with pytest.raises(ValueError, match="images must be uint8"):
        FaceSet(images.float())
    with pytest.raises(TypeError, match="torch tensor"):
        FaceSet(images.numpy())
    with pytest.raises(ValueError, match="emotion has 2 rows but images has 3"):
        FaceSet(images, emotion=torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"emotion must lie in 0\.\.6"):
        FaceSet(images, emotion=torch.tensor([0, 1, 7]))
    with pytest.raises(ValueError, match="emotion must be torch.int64"):
        FaceSet(images, emotion=torch.tensor([0, 1, 2], dtype=torch.int32))
    with pytest.raises(ValueError, match="au must be"):
        FaceSet(images, au=torch.zeros(3, 4), aus=(6, 12))
    with pytest.raises(ValueError, match="points must be"):
        FaceSet(images, au=torch.zeros(3, 2), aus=(6, 12), points=torch.zeros(3, 2, 2))
    with pytest.raises(ValueError, match="usage must lie"):
        FaceSet(images, usage=torch.tensor([0, 1, 3]))
    with pytest.raises(ValueError, match="names has 1 entries"):
        FaceSet(images, names=["x"])
    with pytest.raises(ValueError, match=r"extra\['notes'\] has 2 rows"):
        FaceSet(images, extra={"notes": ["a", "b"]})
    unlabelled = FaceSet(images, emotion=torch.tensor([-1, 3, -1]))  # -1: a face without a label
    assert unlabelled.emotion_names == [None, "happy", None]
    assert FaceSet(images, source="s").names == ["s_0000", "s_0001", "s_0002"]


@pytest.mark.parametrize("index", [[4, 1], torch.tensor([4, 1]), np.array([4, 1])])
def test_subset_carries_every_per_row_field(index):
    full = small_set()
    part = full.subset(index)
    assert len(part) == 2 and part.names == ["toy_0004", "toy_0001"]
    for name in ("images", "emotion", "clean_emotion", "au", "points", "landmarks", "usage"):
        assert torch.equal(getattr(part, name), getattr(full, name)[[4, 1]]), name
    assert torch.equal(part.extra["boxes"], full.extra["boxes"][[4, 1]])
    assert part.extra["notes"] == ["note 4", "note 1"]
    assert part.extra["detected"].tolist() == [True, False]
    assert torch.equal(part.extra["geometry"]["roll"], full.extra["geometry"]["roll"][[4, 1]])
    assert part.aus == full.aus and part.meta == full.meta and part.meta is not full.meta
    mask = full.subset(full.emotion >= 3)
    assert mask.names == ["toy_0003", "toy_0004", "toy_0005"]
    assert len(full.subset(slice(1, 3))) == 2
    with pytest.raises(IndexError, match="boolean mask"):
        full.subset(torch.tensor([True, False]))


def test_split_class_counts_frame_and_landmark():
    data = small_set()
    assert data.split("PrivateTest").names == ["toy_0004", "toy_0005"]
    with pytest.raises(KeyError, match="PublicTest"):
        data.split("Validation")
    counts = data.class_counts()
    assert counts.shape == (7, 3) and counts.to_numpy().sum() == 6 and counts.loc["angry", "Training"] == 1
    nosplit = FaceSet(data.images, emotion=torch.tensor([3, 3, -1, 0, 0, 0]))
    assert nosplit.class_counts()["all"].tolist() == [3, 0, 0, 2, 0, 0, 0]
    with pytest.raises(ValueError, match="no FER2013 splits"):
        nosplit.split("Training")
    frame = data.frame()
    assert list(frame.columns) == ["AU6", "AU12"] and list(frame.index) == data.names
    assert np.array_equal(frame.to_numpy(), data.au.numpy())
    assert torch.equal(data.landmark("b"), data.landmarks[:, 1]) and data.image_size == 8
    with pytest.raises(KeyError, match="known: a, b, c"):
        data.landmark("nose")


def test_renderer_and_loaders_return_faceset(tmp_path):
    from facekit.fau.data import load_au_csv, make_au_data, write_test_faces
    from facekit.synth import AUS, LANDMARK_NAMES, render_faces

    faces = render_faces(4, seed=1)
    assert isinstance(faces, FaceSet) and faces.aus == AUS and faces.meta["domain"] == "lab"
    assert faces.meta["landmark_names"] == LANDMARK_NAMES and set(faces.extra["geometry"]) >= {"roll", "yaw"}
    au = make_au_data(3, seed=2, size=64)
    assert isinstance(au, FaceSet) and au.aus == (6, 10, 12, 14, 17) and au.points.shape == (3, 5, 2, 2)
    assert au.au.dtype == torch.float32 and au.images.dtype == torch.uint8
    write_test_faces(tmp_path, "lab", seed=2, n=3, size=64)
    loaded = load_au_csv(tmp_path / "labels.csv", size=64)
    assert isinstance(loaded, FaceSet) and torch.allclose(loaded.au, au.au, atol=1e-3)
    assert loaded.names == ["subject_1", "subject_2", "subject_3"]


def test_face_folder_and_emotion_faces_are_facesets(tmp_path):
    import cv2

    from facekit.data.faces import load_face_folder
    from facekit.fau.au_emotion import render_emotion_faces

    cv2.imwrite(str(tmp_path / "happy.png"), np.full((48, 48), 128, np.uint8))
    cv2.imwrite(str(tmp_path / "someone.png"), np.full((48, 48), 90, np.uint8))
    crops = load_face_folder(tmp_path)
    assert isinstance(crops, FaceSet) and crops.emotion.tolist() == [3, -1]
    assert crops.extra["detected"].dtype == torch.bool and crops.meta["label_source"] == "file names"
    (tmp_path / "labels.csv").write_text("file,label\nhappy.png,happy\nsomeone.png,contempt\n")
    with pytest.raises(ValueError, match="'contempt' is not a FER2013 emotion"):
        load_face_folder(tmp_path)
    pair = render_emotion_faces(7, seed=0, size=64)
    assert set(pair) == {64, 48} and all(isinstance(f, FaceSet) for f in pair.values())
    assert pair[64].image_size == 64 and pair[48].image_size == 48
    assert torch.equal(pair[64].au, pair[48].au) and torch.equal(pair[64].clean_emotion, pair[48].clean_emotion)
    assert sorted(pair[64].clean_emotion.tolist()) == list(range(len(EMOTIONS)))


def test_the_other_face_set_classes_are_gone():
    """One type per idea: the four former containers (and their aliases) no longer exist anywhere in facekit."""
    gone = {"FERData", "FaceBatch", "AUData", "EmotionFaces", "FaceCrops"}
    found = []
    for info in pkgutil.walk_packages(facekit.__path__, "facekit."):
        if info.name.endswith("__main__"):  # importing it would run it
            continue
        module = importlib.import_module(info.name)
        found += [f"{info.name}.{name}" for name in gone if hasattr(module, name)]
    assert not found
