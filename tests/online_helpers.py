"""A random (untrained) parent network for the online-training tests: heads that predict roughly
the default side view at ``2 * size`` focal and 3 units away, on ``dim``-d features."""

from __future__ import annotations

import torch

from smal4v.nets.encoder import ImageEncoder
from smal4v.nets.heads import SMALHeads
from smal4v.nets.single_frame import SingleFrameNet
from smal4v.train.config import NetConfig


def random_parent(size: int, dim: int) -> SingleFrameNet:
    """Seeded: the same parent on every call."""
    torch.manual_seed(0)
    heads = SMALHeads(dim, 35, 20, focal_default=2.0 * size, trans_default=(0, 0, 3.0))
    return SingleFrameNet(ImageEncoder("resnet_tiny", None, dim), heads, NetConfig(image_size=size, feature_dim=dim))
