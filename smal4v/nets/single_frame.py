"""SingleFrameNet: crop -> SMALParams (the ``base`` and ``parent`` networks), and with
``keypoint_head`` also 2D keypoint detections (:mod:`smal4v.nets.keypoint_head`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from smal4v.nets.encoder import ImageEncoder
from smal4v.nets.heads import SMALHeads, default_translation
from smal4v.nets.keypoint_head import DetectedKeypoints, KeypointHead
from smal4v.nets.params import SMALParams
from smal4v.train.config import NetConfig


class SingleFrameNet(nn.Module):
    """Image encoder followed by parameter heads (and optionally a 2D keypoint head)."""

    def __init__(self, encoder: ImageEncoder, heads: SMALHeads, config: NetConfig | None = None,
                 keypoint_head: KeypointHead | None = None) -> None:
        super().__init__()
        if heads.feature_dim != encoder.feature_dim:
            raise ValueError(f"heads expect {heads.feature_dim}-d features, encoder gives {encoder.feature_dim}")
        self.encoder = encoder
        self.heads = heads
        self.config = config or NetConfig()
        self.keypoint_head = keypoint_head

    def forward(self, images: torch.Tensor) -> SMALParams:
        """images (B, 3, S, S) float [0,1] or uint8 -> SMALParams with batch (B,)."""
        return self.heads(self.encoder(images))

    def forward_with_keypoints(self, images: torch.Tensor) -> tuple[SMALParams, DetectedKeypoints]:
        """The parameters and the keypoint head's detections from one pass of the encoder."""
        feature, detected = self.features_with_keypoints(images)
        return self.heads(feature), detected

    def features_with_keypoints(self, images: torch.Tensor) -> tuple[torch.Tensor, DetectedKeypoints]:
        """The encoder's global feature (B, D) and the keypoint head's detections, from one pass."""
        if self.keypoint_head is None:
            raise ValueError("this network has no keypoint head (network.keypoint_head: false)")
        out = self.encoder.forward_features(images)
        return out.feature, self.keypoint_head(out.maps, images.shape[-1])


def family_mean(model: nn.Module, name: str | None, num_betas: int) -> np.ndarray | None:
    """Mean betas (first ``num_betas``) of the named shape family, None if ``name`` is None."""
    if name is None:
        return None
    fams = {f.name: f for f in getattr(model, "shape_families", [])}
    if name not in fams:
        raise ValueError(f"shape family {name!r} not in the model; it has {sorted(fams)}")
    return np.asarray(fams[name].mean, dtype=np.float32)[:num_betas]


def build_single_frame_net(config: NetConfig | dict[str, Any], model: nn.Module) -> SingleFrameNet:
    """Network whose initial prediction is the family-mean animal, side view, centred in the crop."""
    cfg = config if isinstance(config, NetConfig) else NetConfig.from_dict(config, "net")
    nb = min(cfg.num_betas, int(model.num_betas))
    mean = family_mean(model, cfg.shape_family, nb)
    focal = cfg.focal_rel * cfg.image_size
    t0 = default_translation(
        model, None if mean is None else torch.as_tensor(mean), cfg.root_rotation, focal, cfg.image_size, cfg.fill
    )
    heads = SMALHeads(
        cfg.feature_dim,
        num_joints=int(model.num_joints),
        num_betas=nb,
        use_limb_scale=cfg.use_limb_scale,
        focal_default=focal,
        trans_default=t0,
        root_rotation=cfg.root_rotation,
        betas_mean=mean,
        init_std=cfg.init_std,
        view_bins=cfg.view_bins,
    )
    encoder = ImageEncoder(cfg.backbone, cfg.pretrained, cfg.feature_dim, cfg.spatial_grid, cfg.spatial_channels,
                           cfg.input_size)
    keypoint_head = None
    if cfg.silhouette_head and not cfg.keypoint_head:
        raise ValueError("network.silhouette_head is a map of the keypoint head: set network.keypoint_head: true too")
    if cfg.keypoint_head:
        if cfg.num_keypoints < 1:
            raise ValueError("network.keypoint_head needs num_keypoints (the keypoint set's size) to build the head")
        keypoint_head = KeypointHead(encoder.map_channels, cfg.num_keypoints, cfg.keypoint_head_width,
                                     cfg.keypoint_head_stride, cfg.silhouette_head)
    return SingleFrameNet(encoder, heads, cfg, keypoint_head)
