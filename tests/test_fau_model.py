"""The FAU heatmap model: Bottleneck shapes and shortcut, the ResNet-50 layout, strict checkpoint loading."""
import pytest

import torch

from facekit.fau.model import (Bottleneck, CheckpointMismatchError, FAUConfig, build_fau_model,
                               fau_checkpoint, load_fau_model, load_fau_weights)
from facekit.io import CheckpointError, save_checkpoint
from facekit.runtime import count_parameters


def tiny(**kw):
    return FAUConfig(layers=(1, 1, 1, 1), base_width=8, deconv_filters=(16, 16, 16), input_size=64, **kw)


def test_bottleneck_expands_by_four_and_strides():
    down = torch.nn.Sequential(torch.nn.Conv2d(16, 32, 1, stride=2, bias=False), torch.nn.BatchNorm2d(32))
    block = Bottleneck(16, 8, stride=2, downsample=down).eval()
    assert block(torch.rand(2, 16, 20, 20)).shape == (2, 32, 10, 10)
    assert [m.kernel_size for m in (block.conv1, block.conv2, block.conv3)] == [(1, 1), (3, 3), (1, 1)]
    assert block.bn1.momentum == 0.1


def test_bottleneck_identity_shortcut_is_added_before_the_last_relu():
    torch.manual_seed(0)
    block = Bottleneck(32, 8).eval()
    for bn in (block.bn3,):                      # zero the residual branch: output must be relu(x)
        torch.nn.init.zeros_(bn.weight)
        torch.nn.init.zeros_(bn.bias)
    x = torch.randn(2, 32, 6, 6)
    assert torch.allclose(block(x), torch.relu(x))


def test_resnet50_layout_parameter_count_and_output_shape():
    config = FAUConfig.resnet50()
    model = build_fau_model(config).eval()
    # torchvision's ResNet-50 without fc (23,508,032) + three 256-filter deconvs/BN + 1x1 conv to 10 maps
    deconv = 2048 * 256 * 16 + 2 * 256 * 16 * 256 + 3 * 2 * 256
    assert count_parameters(model) == 23_508_032 + deconv + 256 * 10 + 10 == 33_997_898
    assert [len(getattr(model, f"layer{i}")) for i in range(1, 5)] == [3, 4, 6, 3]
    deconvs = [m for m in model.deconv_layers if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(m.kernel_size, m.stride, m.padding, m.bias) for m in deconvs] == [((4, 4), (2, 2), (1, 1), None)] * 3
    with torch.no_grad():
        assert model(torch.rand(1, 3, 256, 256)).shape == (1, 10, 64, 64)


def test_default_is_cpu_sized_and_maps_are_a_quarter_of_the_input():
    config = FAUConfig()
    model = build_fau_model(config).eval()
    assert count_parameters(model) < 2_000_000
    with torch.no_grad():
        assert model(torch.rand(2, 1, 128, 128)).shape == (2, 10, 32, 32) == (2, 10, config.map_size,
                                                                           config.map_size)


def test_bad_config_says_what_to_fix():
    with pytest.raises(ValueError, match="four positive"):
        FAUConfig(layers=(1, 1, 1))
    with pytest.raises(ValueError, match="one kernel size per"):
        FAUConfig(deconv_filters=(8, 8), deconv_kernels=(4,))
    with pytest.raises(ValueError, match="multiple of 32"):
        FAUConfig(input_size=100)


def test_checkpoint_round_trip_restores_config_and_outputs(tmp_path):
    torch.manual_seed(0)
    model = build_fau_model(tiny()).eval()
    path = save_checkpoint(fau_checkpoint(model), tmp_path / "fau.pt")
    loaded = load_fau_model(path)
    assert loaded.config == model.config
    x = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_mismatched_architecture_lists_keys_and_the_checkpoint_config(tmp_path):
    path = save_checkpoint(fau_checkpoint(build_fau_model(tiny())), tmp_path / "fau.pt")
    other = build_fau_model(FAUConfig(layers=(2, 1, 1, 1), base_width=8, deconv_filters=(16, 16, 16),
                                      input_size=64))
    with pytest.raises(CheckpointMismatchError) as err:
        load_fau_weights(other, path)
    msg = str(err.value)
    assert "Missing keys" in msg and "layer1.1.conv1.weight" in msg
    assert "'layers': [1, 1, 1, 1]" in msg and "'layers': [2, 1, 1, 1]" in msg


def test_renamed_layer_is_not_loaded_silently(tmp_path):
    ckpt = fau_checkpoint(build_fau_model(tiny()))
    ckpt["state_dict"] = {k.replace("final_layer", "final"): v for k, v in ckpt["state_dict"].items()}
    with pytest.raises(CheckpointMismatchError, match=r"Unexpected keys \(2\): final.weight"):
        load_fau_weights(build_fau_model(tiny()), ckpt)


def test_wrong_shapes_are_reported(tmp_path):
    ckpt = fau_checkpoint(build_fau_model(tiny()))
    with pytest.raises(CheckpointMismatchError, match="Shape mismatches"):
        load_fau_weights(build_fau_model(FAUConfig(**{**tiny().to_dict(), "base_width": 16})), ckpt)


def test_corrupt_or_foreign_file_gives_a_clear_error(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="corrupt"):
        load_fau_model(bad)
    foreign = save_checkpoint({"state_dict": {}}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a checkpoint format facekit knows.*Known formats"):
        load_fau_model(foreign)
