"""The OSVOS-style segmenter: a ResNet encoder with multi-scale side outputs fused into one mask.

Architecture (Caelles et al., CVPR 2017, adapted for CPU): the encoder is a torchvision-named
ResNet from :mod:`smal4v.nets.resnet` (``resnet_tiny`` by default, a width-16 ResNet-18 of
0.7 M parameters, about 0.15 GFLOP at 320x180), so a user's ImageNet ``state_dict`` file
(``resnet18``/``34``/``50``) loads unchanged. Side outputs are taken after the stem (stride
2) and after layer1..layer4 (strides 4-32): each is a 3x3 convolution to ``side_channels``
maps, upsampled bilinearly to the input size; a 1x1 convolution fuses the concatenated maps
into the mask logit. Each side also has its own 1x1 logit for deep supervision, as in the
paper. A ResNet was preferred over a VGG-like FCN because the project already has it with
weight loading, and its cost at the stem is a quarter of a VGG's first stage.

Loss: the class-balanced binary cross-entropy of the paper, per image
``L = -beta sum_{y=1} log p - (1 - beta) sum_{y=0} log(1 - p)`` with ``beta = |Y-| / |Y|``,
averaged over pixels. The balanced loss shifts the logit by ``log(beta / (1 - beta))``
relative to a calibrated one; :func:`prior_logit_shift` gives that shift so inference can
optionally undo it.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from smal4v.nets.resnet import build_resnet, load_backbone_weights

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class OsvosNet(nn.Module):
    """Fully convolutional foreground segmenter; ``forward(x)`` -> (fused logit, side logits).

    ``x`` is (B, 3, H, W) RGB in [0, 1]; logits are (B, 1, H, W) at the input size.
    """

    def __init__(self, backbone: str = "resnet_tiny", side_channels: int = 8) -> None:
        super().__init__()
        self.backbone = backbone
        self.side_channels = side_channels
        self.encoder = build_resnet(backbone)
        self.encoder.fc = nn.Identity()  # classifier unused; its weights in a file are skipped
        chans = [self.encoder.conv1.out_channels, *self.encoder.stage_channels]
        self.sides = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, side_channels, 3, padding=1), nn.ReLU(inplace=True)) for c in chans
        )
        self.side_logits = nn.ModuleList(nn.Conv2d(side_channels, 1, 1) for _ in chans)
        self.fuse = nn.Conv2d(side_channels * len(chans), 1, 1)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def arch(self) -> dict[str, object]:
        """Constructor arguments (stored with the weights so a model file is self-describing)."""
        return {"backbone": self.backbone, "side_channels": self.side_channels}

    def load_backbone(self, path: str | Path) -> None:
        """Initialise the encoder from a user-supplied torchvision ImageNet state_dict file."""
        load_backbone_weights(self.encoder, path)

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        e = self.encoder
        x = e.relu(e.bn1(e.conv1(x)))
        maps = [x]
        x = e.maxpool(x)
        for layer in (e.layer1, e.layer2, e.layer3, e.layer4):
            x = layer(x)
            maps.append(x)
        return maps

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        size = x.shape[-2:]
        x = (x - self.mean) / self.std
        ups = [
            F.interpolate(side(m), size=size, mode="bilinear", align_corners=False)
            for side, m in zip(self.sides, self._features(x))
        ]
        fused = self.fuse(torch.cat(ups, dim=1))
        return fused, [head(u) for head, u in zip(self.side_logits, ups)]


def balanced_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Class-balanced BCE of OSVOS (mean over pixels, then images); ``target`` in [0, 1].

    ``beta`` (the weight of foreground pixels) is the background fraction of each image, so
    both classes contribute equally however small the animal is.
    """
    dims = tuple(range(1, target.ndim))
    fg = target.mean(dim=dims, keepdim=True)
    beta = (1.0 - fg).clamp(0.05, 0.95)  # all-background/-foreground images stay finite
    weight = beta * target + (1.0 - beta) * (1.0 - target)
    per_pixel = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return 2.0 * (weight * per_pixel).mean()


def osvos_loss(fused: torch.Tensor, sides: list[torch.Tensor], target: torch.Tensor,
               side_weight: float) -> torch.Tensor:
    """Fused-output loss plus ``side_weight`` x the mean side-output loss (deep supervision)."""
    loss = balanced_bce(fused, target)
    if side_weight > 0 and sides:
        loss = loss + side_weight * sum(balanced_bce(s, target) for s in sides) / len(sides)
    return loss


def prior_logit_shift(foreground_fraction: float) -> float:
    """Logit offset the balanced loss adds, ``log(beta / (1 - beta))`` with ``beta`` the
    background fraction; subtract it from the logits to get calibrated probabilities."""
    fg = min(max(float(foreground_fraction), 0.05), 0.95)
    return math.log((1.0 - fg) / fg)
