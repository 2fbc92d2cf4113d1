"""MiniXception: Figure 1's parameter count, shapes, names other modules rely on, preprocessing, BN momentum."""
import numpy as np
import pytest
import torch
from torch import nn

from facekit.runtime import count_parameters
from facekit.emotion.xception import MiniXception, deprocess, layer_table, preprocess


def test_parameter_count_matches_figure_1():
    assert count_parameters(MiniXception()) == 56_951


def test_parameter_count_per_block():
    model = MiniXception()
    counts = [count_parameters(m) for m in (model.stem, *model.blocks, model.last_conv)]
    assert counts == [680, 824, 2672, 9440, 35264, 8071]


@pytest.mark.parametrize("size, maps", [(48, (7, 3, 3)), (44, (7, 3, 3)), (64, (7, 4, 4))])
def test_output_shapes(size, maps):
    model = MiniXception().eval()
    x = torch.randn(3, 1, size, size)
    assert model(x).shape == (3, 7)
    assert model.features(x).shape == (3, *maps)


def test_layer_table_shapes_and_total():
    table = layer_table(MiniXception(), 44)
    rows = table.set_index("name")
    assert rows.loc["stem.conv2", "output_shape"] == (8, 40, 40)
    assert rows.loc["block1 (add)", "output_shape"] == (16, 20, 20)
    assert rows.loc["block4 (add)", "output_shape"] == (128, 3, 3)
    assert rows.loc["last_conv", "output_shape"] == (7, 3, 3)
    assert rows.loc["total", "params"] == 56_951
    assert table["params"].iloc[:-1].sum() == 56_951


def test_stable_layer_names():
    model = MiniXception()
    names = dict(model.named_modules())
    for needed in ["stem.conv1", "stem.bn1", "stem.conv2", "stem.bn2", "last_conv", "gap"]:
        assert needed in names
    for b in range(1, 5):
        for part in ["sep1.depthwise", "sep1.pointwise", "bn1", "sep2.depthwise", "sep2.pointwise", "bn2", "pool",
                     "shortcut.conv", "shortcut.bn"]:
            assert f"block{b}.{part}" in names
    assert model.block2.sep1.depthwise.groups == 16
    assert model.last_conv.bias is not None and model.stem.conv1.bias is None
    assert not any(isinstance(m, nn.ReLU) for m in [model.block1.shortcut])


def test_no_relu_after_residual_add():
    block = MiniXception().block1.eval()
    x = torch.randn(2, 8, 10, 10)
    out = block(x)
    assert (out < 0).any(), "block output must be able to go negative (no ReLU after the add)"


def test_bn_momentum_default_and_keras_bug_option():
    good = MiniXception()
    assert all(m.momentum == 0.01 for m in good.modules() if isinstance(m, nn.BatchNorm2d))
    bad = MiniXception(bn_momentum=0.99)
    assert all(m.momentum == 0.99 for m in bad.modules() if isinstance(m, nn.BatchNorm2d))
    with pytest.raises(ValueError, match="bn_momentum"):
        MiniXception(bn_momentum=0)


def test_preprocess_range_and_shapes():
    x = preprocess(torch.tensor([[0, 255]], dtype=torch.uint8).expand(2, 2))
    assert x.shape == (1, 1, 2, 2) and x.dtype == torch.float32
    assert x.min() == -1 and x.max() == 1
    batch = torch.randint(0, 256, (5, 48, 48), dtype=torch.uint8)
    assert preprocess(batch).shape == (5, 1, 48, 48)
    assert torch.equal(deprocess(preprocess(batch))[:, 0], batch)
    assert preprocess(np.zeros((48, 48), np.uint8)).shape == (1, 1, 48, 48)


def test_preprocess_rejects_floats():
    with pytest.raises(TypeError, match="uint8"):
        preprocess(torch.zeros(2, 48, 48))
