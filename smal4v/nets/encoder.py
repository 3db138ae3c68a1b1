"""Image encoder: ResNet backbone + a small MLP giving one global feature vector per crop.

The MLP sees the average-pooled last stage and, with ``spatial_grid`` > 0, a coarse map of it
(1x1 convolution to ``spatial_channels``, average-pooled to a ``grid x grid`` map, flattened):
global average pooling alone throws away *where* the parts are in the crop, which a pose and
camera regressor needs (WLDO keeps a flattened 3x3 map of 2048 channels for the same reason).

With ``input_size`` set, crops are resized (area-averaged) to that side before the backbone: a
CPU budget buys 4x the training steps at half the side, while the crops, keypoints and masks
keep the crop size (every coordinate the network predicts is in crop pixels).

ImageNet normalisation happens INSIDE the encoder so that training, feature precomputation
and inference see identical preprocessing (METHOD.md 8.4: SMAL4V normalised during parent
training but not when precomputing temporal features). Inputs are RGB crops (B, 3, S, S),
float in [0, 1] or uint8 in [0, 255].
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from smal4v.nets.resnet import build_resnet, load_backbone_weights

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class EncoderOutput:
    """``feature`` (B, D) global vector; ``pooled`` (B, C) pooled layer4; ``maps`` layer1..4."""

    feature: torch.Tensor
    pooled: torch.Tensor
    maps: list[torch.Tensor]


def crops_to_tensor(crops: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(N, S, S, 3) uint8 or float crops -> float (N, 3, S, S) in [0, 1]."""
    t = torch.as_tensor(np.asarray(crops)) if not isinstance(crops, torch.Tensor) else crops
    if t.ndim != 4 or t.shape[-1] != 3:
        raise ValueError(f"crops must have shape (N, S, S, 3), got {tuple(t.shape)}")
    t = t.permute(0, 3, 1, 2)
    return t.float() / 255.0 if t.dtype == torch.uint8 else t.float()


class ImageEncoder(nn.Module):
    """Backbone (name from :data:`smal4v.nets.resnet.BACKBONES`) -> (B, feature_dim) feature."""

    def __init__(self, backbone: str = "resnet_tiny", pretrained: str | Path | None = None, feature_dim: int = 128,
                 spatial_grid: int = 0, spatial_channels: int = 32, input_size: int | None = None) -> None:
        super().__init__()
        self.backbone_name = backbone
        self.input_size = None if input_size is None else int(input_size)
        self.backbone = build_resnet(backbone)
        if pretrained:
            load_backbone_weights(self.backbone, pretrained)
        self.backbone.fc = nn.Identity()  # classifier unused; keeps memory and state_dict small
        self.feature_dim = feature_dim
        c = self.backbone.out_channels
        self.spatial_grid = int(spatial_grid)
        self.spatial = None
        extra = 0
        if self.spatial_grid > 0:
            self.spatial = nn.Sequential(
                nn.Conv2d(c, spatial_channels, 1, bias=False), nn.BatchNorm2d(spatial_channels), nn.LeakyReLU(0.2)
            )
            extra = spatial_channels * self.spatial_grid**2
        self.mlp = nn.Sequential(
            nn.Linear(c + extra, feature_dim), nn.LeakyReLU(0.2), nn.Linear(feature_dim, feature_dim), nn.LeakyReLU(0.2)
        )
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @property
    def map_channels(self) -> list[int]:
        """Channels of layer1..layer4 maps (for the refinement network's local features)."""
        return list(self.backbone.stage_channels)

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 [0,255] or float [0,1] (B,3,S,S) -> ImageNet-normalised float, resized to
        ``input_size`` if set."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"encoder input must be (B, 3, S, S), got {tuple(images.shape)}")
        x = images.float() / 255.0 if images.dtype == torch.uint8 else images
        if self.input_size is not None and x.shape[-1] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="area")
        return (x - self.mean) / self.std

    def forward_features(self, images: torch.Tensor) -> EncoderOutput:
        """Global feature plus the intermediate maps."""
        maps = self.backbone.forward_stages(self.normalise(images))
        pooled = maps[-1].mean(dim=(2, 3))
        x = pooled
        if self.spatial is not None:
            grid = F.adaptive_avg_pool2d(self.spatial(maps[-1]), self.spatial_grid).flatten(1)
            x = torch.cat((pooled, grid), 1)
        return EncoderOutput(feature=self.mlp(x), pooled=pooled, maps=maps)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward_features(images).feature

    @torch.no_grad()
    def encode_frames(self, crops: np.ndarray | torch.Tensor, batch_size: int = 32, device: str | torch.device = "cpu") -> np.ndarray:
        """Frozen, eval-mode features for many crops (N,S,S,3) -> (N, D) float32 numpy.

        Used once per sequence before online training; restores the previous train/eval mode.
        """
        was_training = self.training
        self.eval()
        out = []
        try:
            for i in range(0, len(crops), batch_size):
                x = crops_to_tensor(crops[i : i + batch_size]).to(device)
                out.append(self(x).float().cpu().numpy())
        finally:
            self.train(was_training)
        return np.concatenate(out, 0) if out else np.zeros((0, self.feature_dim), np.float32)
