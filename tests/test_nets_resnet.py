"""ResNet backbones: torchvision parameter names and counts, shapes, weight-file loading."""

import pytest
import torch

from smal4v.nets.resnet import BACKBONES, build_resnet, load_backbone_weights

# Parameter counts of torchvision.models.resnet18()/resnet50() (ImageNet, 1000 classes).
TORCHVISION_COUNTS = {"resnet18": 11_689_512, "resnet50": 25_557_032}
EXPECTED_KEYS = {
    "resnet18": [
        "conv1.weight", "bn1.running_mean", "bn1.num_batches_tracked", "layer1.0.conv1.weight",
        "layer1.1.bn2.bias", "layer2.0.downsample.0.weight", "layer2.0.downsample.1.running_var",
        "layer4.1.conv2.weight", "fc.weight", "fc.bias",
    ],
    "resnet50": [
        "layer1.0.downsample.0.weight", "layer1.0.conv3.weight", "layer3.5.bn3.weight",
        "layer4.2.conv3.weight", "layer4.0.downsample.1.bias", "fc.weight",
    ],
}


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_torchvision_names_and_counts(name: str) -> None:
    net = build_resnet(name)
    assert sum(p.numel() for p in net.parameters()) == TORCHVISION_COUNTS[name]
    keys = set(net.state_dict())
    for k in EXPECTED_KEYS[name]:
        assert k in keys, k
    assert net.state_dict()["fc.weight"].shape == (1000, 2048 if name == "resnet50" else 512)
    assert not any(k.startswith("conv1.bias") for k in keys)


def test_forward_shapes_tiny() -> None:
    net = build_resnet("resnet_tiny").eval()
    x = torch.rand(2, 3, 64, 64)
    maps = net.forward_stages(x)
    assert [tuple(m.shape[1:]) for m in maps] == [(16, 16, 16), (32, 8, 8), (64, 4, 4), (128, 2, 2)]
    assert net(x).shape == (2, 1000)
    assert net.out_channels == 128


def test_unknown_backbone() -> None:
    with pytest.raises(ValueError, match="resnet_tiny"):
        build_resnet("vgg16")
    assert "resnet34" in BACKBONES


def test_load_weights_roundtrip_and_errors(tmp_path) -> None:
    src = build_resnet("resnet_tiny")
    with torch.no_grad():
        for p in src.parameters():
            p.normal_()
    path = tmp_path / "w.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in src.state_dict().items()}}, path)
    dst = build_resnet("resnet_tiny")
    load_backbone_weights(dst, path)
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k
    with pytest.raises(ValueError, match=r"w\.pth.*shape mismatches: .*conv1\.weight: file \(16, 3, 7, 7\) vs model \(64, 3, 7, 7\)"):
        load_backbone_weights(build_resnet("resnet18"), path)
    bad = tmp_path / "partial.pth"
    sd = src.state_dict()
    sd.pop("layer1.0.conv1.weight")
    torch.save(sd, bad)
    with pytest.raises(ValueError, match=r"partial\.pth.*missing keys: layer1\.0\.conv1\.weight"):
        load_backbone_weights(build_resnet("resnet_tiny"), bad)
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_backbone_weights(dst, tmp_path / "nope.pth")
