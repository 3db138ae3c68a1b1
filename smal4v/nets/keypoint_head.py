"""2D keypoint head: one heatmap per keypoint over the encoder's stride-8 (or stride-4) map, read out by soft-argmax.

Regressing the model's parameters from one feature vector learns where the parts are slowly at
a CPU budget (docs/TRAINING.md); a heatmap per keypoint keeps the image's layout. Each heatmap is
read out as the expected position under a spatial softmax (integral regression, Sun et al.
2018), so it trains with the same L1 keypoint loss in crop pixels as the projected keypoints. A
logit per keypoint says whether it is seen, so a fit to the detections can ignore occluded ones.
Optionally one more map is the animal's silhouette (a logit per cell), so the fit can also match
the outline (``network.silhouette_head``).
At stride 4 the stride-8 trunk's output is upsampled and refined with layer 1's map by one more
convolution (a U-Net decoder step): a 128 px crop gets 32x32 heatmap cells of 4 px instead of 16x16
of 8 px, for about half again the head's cost rather than four times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class DetectedKeypoints:
    """``xy`` (B, K, 2) crop pixels; ``visibility_logits`` (B, K); ``silhouette_logits`` (B, h, w)
    on the heatmap grid, or None without a silhouette head; ``heatmap_logits`` (B, K, h, w), kept
    only in training mode (for the heatmap loss; inference needs only the read-out ``xy``)."""

    xy: torch.Tensor
    visibility_logits: torch.Tensor
    silhouette_logits: torch.Tensor | None = None
    heatmap_logits: torch.Tensor | None = None

    def to(self, device: str | torch.device) -> "DetectedKeypoints":
        sil = None if self.silhouette_logits is None else self.silhouette_logits.to(device)
        return DetectedKeypoints(self.xy.to(device), self.visibility_logits.to(device), sil)

    @staticmethod
    def cat(items: list["DetectedKeypoints"]) -> "DetectedKeypoints":
        """Concatenate along the batch."""
        sil = None if items[0].silhouette_logits is None else torch.cat([d.silhouette_logits for d in items])  # type: ignore[misc]
        return DetectedKeypoints(torch.cat([d.xy for d in items]), torch.cat([d.visibility_logits for d in items]), sil)

    def silhouette(self, size: int) -> torch.Tensor:
        """(B, size, size) probability that each pixel is the animal, upsampled bilinearly from the grid."""
        if self.silhouette_logits is None:
            raise ValueError("these detections have no silhouette (network.silhouette_head: false)")
        prob = torch.sigmoid(self.silhouette_logits)[:, None]
        return F.interpolate(prob, size=(size, size), mode="bilinear", align_corners=False)[:, 0]

    def as_targets(self) -> torch.Tensor:
        """(B, K, 3) [x, y, probability that the keypoint is seen]: the layout of keypoint targets."""
        return torch.cat((self.xy, torch.sigmoid(self.visibility_logits)[..., None]), -1)


HEATMAP_STRIDES = (4, 8)


def _conv_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


class KeypointHead(nn.Module):
    """Layers 2-4 of the backbone (the deeper ones upsampled to layer 2's grid) -> K heatmaps (and a
    silhouette map if ``silhouette``); at ``stride`` 4, refined on layer 1's grid with layer 1's map."""

    def __init__(self, stage_channels: Sequence[int], num_keypoints: int, width: int = 64, stride: int = 8,
                 silhouette: bool = False) -> None:
        super().__init__()
        if num_keypoints < 1:
            raise ValueError(f"a keypoint head needs at least one keypoint, got {num_keypoints}")
        if stride not in HEATMAP_STRIDES:
            raise ValueError(f"network.keypoint_head_stride must be one of {HEATMAP_STRIDES}, got {stride}")
        self.trunk = nn.Sequential(*_conv_bn_relu(sum(stage_channels[1:]), width), *_conv_bn_relu(width, width))
        out_width = width // 2 if stride == 4 else width
        self.fine = nn.Sequential(*_conv_bn_relu(width + stage_channels[0], out_width)) if stride == 4 else None
        self.heatmaps = nn.Conv2d(out_width, num_keypoints, 1)
        self.silhouette = nn.Conv2d(out_width, 1, 1) if silhouette else None
        self.visibility = nn.Linear(width, num_keypoints)

    def forward(self, maps: Sequence[torch.Tensor], crop_size: int) -> DetectedKeypoints:
        """``maps``: the backbone's layer1..layer4 outputs; positions are returned in pixels of a
        ``crop_size`` crop (the encoder may have resized its input)."""
        grid = maps[1].shape[-2:]
        x = torch.cat([maps[1], *(F.interpolate(m, size=grid, mode="bilinear", align_corners=False) for m in maps[2:])], 1)
        h = self.trunk(x)
        visibility = self.visibility(h.mean(dim=(2, 3)))
        if self.fine is not None:
            fine_grid = maps[0].shape[-2:]
            h = self.fine(torch.cat([maps[0], F.interpolate(h, size=fine_grid, mode="bilinear", align_corners=False)], 1))
        silhouette = None if self.silhouette is None else self.silhouette(h)[:, 0]
        logits = self.heatmaps(h)
        return DetectedKeypoints(soft_argmax(logits, crop_size), visibility, silhouette, logits if self.training else None)


def soft_argmax(logits: torch.Tensor, crop_size: int) -> torch.Tensor:
    """(B, K, H, W) heatmap logits -> (B, K, 2) expected [x, y] under a spatial softmax, in pixels of
    a ``crop_size`` crop (cell centres at (i + 0.5) * crop_size / W)."""
    b, k, height, width = logits.shape
    prob = logits.flatten(2).softmax(-1).view(b, k, height, width)
    xs = (torch.arange(width, dtype=prob.dtype, device=prob.device) + 0.5) * (crop_size / width)
    ys = (torch.arange(height, dtype=prob.dtype, device=prob.device) + 0.5) * (crop_size / height)
    return torch.stack(((prob.sum(2) * xs).sum(-1), (prob.sum(3) * ys).sum(-1)), -1)
