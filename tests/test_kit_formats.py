"""The course kit's starter checkpoints load through the public loaders and give the starters' outputs.

The two starter networks are rebuilt here from the public repositories' structure (yoshidan/pytorch-facial-
expression-recognition ``src/model.py``; wmdydxr/Pytorch-FAU ``network.py``), given random non-trivial weights and
BatchNorm statistics, saved the way the starters save them, and loaded with ``load_emotion_model`` /
``load_fau_model``.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from facekit.emotion import load_emotion_model, preprocess
from facekit.fau.model import load_fau_model
from facekit.fau.heatmaps import read_intensities
from facekit.io import CheckpointError
from facekit.kit_formats import FAU_HEATMAP_SCALE


# ----------------------------------------------------------------- Task 1 starter: src/model.py, verbatim structure

class SeparableConv2d(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size=1, stride=1, padding=0, dilation=1, bias=False):
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, kernel_size, stride, padding, dilation,
                                   groups=in_channels, bias=bias)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, 1, 0, 1, 1, bias=bias)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class ResidualBlock(nn.Module):
    def __init__(self, in_channeld, out_channels):
        super().__init__()
        self.residual_conv = nn.Conv2d(in_channeld, out_channels, kernel_size=1, stride=2, bias=False)
        self.residual_bn = nn.BatchNorm2d(out_channels, momentum=0.99, eps=1e-3)
        self.sepConv1 = SeparableConv2d(in_channeld, out_channels, kernel_size=3, bias=False, padding=1)
        self.bn1 = nn.BatchNorm2d(out_channels, momentum=0.99, eps=1e-3)
        self.relu = nn.ReLU()
        self.sepConv2 = SeparableConv2d(out_channels, out_channels, kernel_size=3, bias=False, padding=1)
        self.bn2 = nn.BatchNorm2d(out_channels, momentum=0.99, eps=1e-3)
        self.maxp = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def forward(self, x):
        res = self.residual_bn(self.residual_conv(x))
        x = self.maxp(self.bn2(self.sepConv2(self.relu(self.bn1(self.sepConv1(x))))))
        return res + x


class StarterEmotionModel(nn.Module):
    def __init__(self, num_classes=7):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, kernel_size=3, stride=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8, affine=True, momentum=0.99, eps=1e-3)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 8, kernel_size=3, stride=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8, momentum=0.99, eps=1e-3)
        self.relu2 = nn.ReLU()
        self.module1 = ResidualBlock(8, 16)
        self.module2 = ResidualBlock(16, 32)
        self.module3 = ResidualBlock(32, 64)
        self.module4 = ResidualBlock(64, 128)
        self.last_conv = nn.Conv2d(128, num_classes, kernel_size=3, padding=1)
        self.avgp = nn.AdaptiveAvgPool2d((1, 1))

    def forward(self, x):
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.relu2(self.bn2(self.conv2(x)))
        x = self.module4(self.module3(self.module2(self.module1(x))))
        return self.avgp(self.last_conv(x)).view(x.shape[0], -1)


# ----------------------------------------------------------------- Task 2 starter: Pytorch-FAU network.py structure

BN_MOMENTUM = 0.1


class StarterBottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv3 = nn.Conv2d(planes, planes * 4, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + residual)


class StarterFAUResNet(nn.Module):
    """network.ResNet(block=Bottleneck, num_maps=10, layers=...) with deconv_layers_1..3 (256 filters, kernel 4)."""

    def __init__(self, layers=(3, 4, 6, 3), num_maps=10):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, layers[0])
        self.layer2 = self._make_layer(128, layers[1], stride=2)
        self.layer3 = self._make_layer(256, layers[2], stride=2)
        self.layer4 = self._make_layer(512, layers[3], stride=2)
        self.deconv_layers_1 = self._make_deconv_layer()
        self.deconv_layers_2 = self._make_deconv_layer()
        self.deconv_layers_3 = self._make_deconv_layer()
        self.final_layer = nn.Conv2d(256, num_maps, kernel_size=1, stride=1, padding=0)

    def _make_layer(self, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, kernel_size=1, stride=stride, bias=False),
                                       nn.BatchNorm2d(planes * 4, momentum=BN_MOMENTUM))
        layers = [StarterBottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * 4
        layers += [StarterBottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def _make_deconv_layer(self):
        layers = [nn.ConvTranspose2d(self.inplanes, 256, kernel_size=4, stride=2, padding=1, output_padding=0,
                                     bias=False), nn.BatchNorm2d(256, momentum=BN_MOMENTUM), nn.ReLU(inplace=True)]
        self.inplanes = 256
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.deconv_layers_3(self.deconv_layers_2(self.deconv_layers_1(x)))
        return self.final_layer(x)


def _randomise(model: nn.Module, seed: int, gain: float = 1.0) -> nn.Module:
    """Random non-trivial weights and BatchNorm statistics (running mean/var far from 0/1), in place."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d)):
                fan_in = mod.weight[0].numel() if isinstance(mod, nn.Conv2d) else mod.weight.shape[0]
                mod.weight.copy_(torch.randn(mod.weight.shape, generator=g) * gain * math.sqrt(2.0 / fan_in))
                if mod.bias is not None:
                    mod.bias.copy_(torch.randn(mod.bias.shape, generator=g) * 0.1)
            elif isinstance(mod, nn.BatchNorm2d):
                n = mod.num_features
                mod.weight.copy_(0.5 + torch.rand(n, generator=g))
                mod.bias.copy_(torch.randn(n, generator=g) * 0.2)
                mod.running_mean.copy_(torch.randn(n, generator=g) * 0.3)
                mod.running_var.copy_(0.5 + torch.rand(n, generator=g))
                mod.num_batches_tracked.fill_(1234)
    return model.eval()


def _faces(n: int = 8, size: int = 48, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, size, size), generator=g, dtype=torch.uint8)


@pytest.fixture(scope="module")
def starter_emotion():
    model = _randomise(StarterEmotionModel(), seed=3)
    with torch.no_grad():  # scale the last layer so the probabilities are spread (logits of std ~1.5), not one-hot
        spread = model(_faces(16, seed=7).float().unsqueeze(1) / 255.0).std()
        model.last_conv.weight.mul_(1.5 / spread)
        model.last_conv.bias.mul_(1.5 / spread)
    return model


def _starter_probs(model, faces):
    with torch.no_grad():  # the starter's check.py: ToTensor() -> [0, 1]
        return torch.softmax(model(faces.float().unsqueeze(1) / 255.0), dim=1)


@pytest.mark.parametrize("wrapping", ["net", "bare", "module"])
def test_task1_starter_checkpoint_gives_the_starters_probabilities(tmp_path, starter_emotion, wrapping):
    sd = starter_emotion.state_dict()
    obj = {"net": sd} if wrapping == "net" else sd if wrapping == "bare" else {f"module.{k}": v for k, v in sd.items()}
    path = tmp_path / "private_model_233_66.t7"
    torch.save(obj, path)  # as src/train.py does
    assert len(sd) == 94 and sum(p.numel() for p in starter_emotion.parameters()) == 56_951
    model = load_emotion_model(path)
    assert model.checkpoint_format == "task1-starter"
    faces = _faces()
    with torch.no_grad():
        ours = torch.softmax(model(preprocess(faces)), dim=1)
    theirs = _starter_probs(starter_emotion, faces)
    assert theirs.max(dim=1).values.min() < 0.99  # non-trivial outputs, so the comparison means something
    assert (ours - theirs).abs().max().item() < 1e-5
    assert torch.equal(ours.argmax(1), theirs.argmax(1))


def test_task1_without_folding_the_input_disagrees(tmp_path, starter_emotion):
    """The comparison above can fail: renaming alone (no fold of [0,1] into the stem) does not match."""
    from facekit.emotion import MiniXception
    from facekit.kit_formats import emotion_state_from_starter

    model = MiniXception()
    model.load_state_dict(emotion_state_from_starter(starter_emotion.state_dict(), "x", fold_input=False))
    faces = _faces()
    with torch.no_grad():
        ours = torch.softmax(model.eval()(preprocess(faces)), dim=1)
    assert (ours - _starter_probs(starter_emotion, faces)).abs().max().item() > 1e-3


@pytest.fixture(scope="module")
def starter_fau():
    torch.manual_seed(0)
    return _randomise(StarterFAUResNet(), seed=5)


@pytest.mark.parametrize("wrapping", ["bare", "module", "state_dict"])
def test_pytorch_fau_model_pth_loads_with_the_documented_scale(tmp_path, starter_fau, wrapping):
    sd = starter_fau.state_dict()
    assert len(sd) == 338
    obj = sd if wrapping == "bare" else {"state_dict": sd} if wrapping == "state_dict" else \
        {f"module.{k}": v for k, v in sd.items()}
    path = tmp_path / "model.pth"
    torch.save(obj, path)
    model = load_fau_model(path)
    assert model.checkpoint_format == "pytorch-fau"
    assert model.config.layers == (3, 4, 6, 3) and model.config.in_channels == 3 and model.config.input_size == 256
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in starter_fau.parameters())
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (2, 3, 256, 256), generator=g).float() / 255.0  # load_data.py: RGB / 255
    with torch.no_grad():
        theirs, ours = starter_fau(x), model(x)
    assert theirs.shape == ours.shape == (2, 10, 64, 64)
    assert theirs.abs().max() > 1.0  # not a vanishing output
    torch.testing.assert_close(ours * FAU_HEATMAP_SCALE, theirs, rtol=1e-4, atol=1e-4 * theirs.abs().max().item())
    # utils.OutIntensity: max / 255, then run_demo averages the two maps of an AU
    starter_int = (theirs.flatten(2).amax(2) / 255.0).view(2, 5, 2).mean(2)
    torch.testing.assert_close(read_intensities(ours, clip=False), starter_int, rtol=1e-4, atol=1e-5)


def test_unknown_format_gets_an_error_listing_the_known_ones(tmp_path):
    path = tmp_path / "weights.pth"
    torch.save({"encoder.weight": torch.zeros(3, 3)}, path)
    for load in (load_emotion_model, load_fau_model):
        with pytest.raises(CheckpointError) as err:
            load(path)
        text = str(err.value)
        assert str(path) in text and "Known formats" in text
        assert "{'net': state_dict}" in text and "model.pth" in text and "module." in text
    torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointError, match="Known formats"):
        load_emotion_model(path)


def test_cross_task_files_are_refused_with_a_pointer(tmp_path, starter_emotion):
    path = tmp_path / "m.t7"
    torch.save({"net": starter_emotion.state_dict()}, path)
    with pytest.raises(ValueError, match="load_emotion_model"):
        load_fau_model(path)


def test_starter_loading_stays_weights_only(tmp_path):
    """A pickle that would run code is refused, also through the starter path."""
    import collections

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.t7"
    torch.save({"net": collections.OrderedDict(a=Evil())}, path)
    with pytest.raises(CheckpointError, match="NOT loaded"):
        load_emotion_model(path)


def test_convert_writes_a_facekit_checkpoint_with_provenance(tmp_path, starter_emotion):
    from facekit.kit_formats import convert_file

    src = tmp_path / "public_model_236_64.t7"
    torch.save({"net": starter_emotion.state_dict()}, src)
    dst = tmp_path / "out.pt"
    convert_file(src, dst)
    ckpt = torch.load(dst, weights_only=True)
    assert ckpt["arch"] == "MiniXception" and ckpt["provenance"]["format"] == "task1-starter"
    assert ckpt["provenance"]["source"].endswith("public_model_236_64.t7")
    a, b = load_emotion_model(dst), load_emotion_model(src)
    assert load_emotion_model(dst).checkpoint_format == "facekit"
    x = preprocess(_faces(2))
    with torch.no_grad():
        assert torch.equal(a(x), b(x))
    with pytest.raises(FileExistsError, match="--force"):
        convert_file(src, dst)
    convert_file(src, dst, force=True)
    from facekit_tools.cli import main

    assert main(["convert", str(src), str(tmp_path / "cli.pt")]) == 0
    assert main(["convert", str(src), str(tmp_path / "cli.pt")]) != 0  # exists, no --force


def test_facekit_checkpoints_still_load(tmp_path):
    from facekit.emotion import MiniXception, save_emotion_model

    model = _randomise(MiniXception(), seed=9)
    path = save_emotion_model(model, tmp_path / "e.pt")
    again = load_emotion_model(path)
    x = preprocess(_faces(2))
    with torch.no_grad():
        assert torch.equal(model(x), again(x))
    assert np.isfinite(again(x).detach().numpy()).all()
    assert again.checkpoint_format == "facekit"
