"""The online-training tests' parent and clip: a random (untrained) parent network whose heads
predict roughly the default side view at ``2 * size`` focal and 3 units away, on ``dim``-d
features; and a smooth clip made for the temporal network (noisy features of a smooth motion)."""

from __future__ import annotations

import numpy as np
import torch

from smal4v.model import load_keypoint_set, load_model
from smal4v.model.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from smal4v.nets.encoder import ImageEncoder
from smal4v.nets.heads import SMALHeads
from smal4v.nets.params import SMALParams
from smal4v.nets.single_frame import SingleFrameNet
from smal4v.train.config import NetConfig
from smal4v.train.scene import Scene


def random_parent(size: int, dim: int) -> SingleFrameNet:
    """Seeded: the same parent on every call."""
    torch.manual_seed(0)
    heads = SMALHeads(dim, 35, 20, focal_default=2.0 * size, trans_default=(0, 0, 3.0))
    return SingleFrameNet(ImageEncoder("resnet_tiny", None, dim), heads, NetConfig(image_size=size, feature_dim=dim))


S, N, EVERY, D = 64, 40, 6, 16
"""Crop size, frames, keypoints on every EVERY-th frame, feature size of the smooth test clip."""


def smooth_clip(model, kps, heads: SMALHeads, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame features (N, D) = a random linear map of the smooth latent motion + i.i.d. noise,
    and the true keypoints (N, K, 3) of that motion (a turning, walking, drifting animal)."""
    t = np.arange(N) / N
    yaw = 0.8 * np.sin(2 * np.pi * (0.7 * t + rng.uniform()))
    phase = 2 * np.pi * (3 * t + rng.uniform())
    pose = torch.zeros(N, 35, 3)
    turn = torch.zeros(N, 3)
    turn[:, 1] = torch.as_tensor(yaw, dtype=torch.float32)
    pose[:, 0] = matrix_to_axis_angle(axis_angle_to_matrix(turn) @ heads.root_offset)
    swing = torch.as_tensor(0.35 * np.sin(phase), dtype=torch.float32)[:, None]
    pose[:, 7:15, 1], pose[:, 17:25, 1] = swing, -swing
    shift = np.stack([0.15 * np.sin(2 * np.pi * t), 0.05 * np.cos(2 * np.pi * t), 0 * t], 1)
    truth = SMALParams(torch.zeros(N, 20), pose, heads.trans_default + torch.as_tensor(shift, dtype=torch.float32),
                       torch.full((N,), 2.0 * S))
    with torch.no_grad():
        kp = Scene(model, kps, S, S)(truth, silhouette=False).keypoints
    latent = np.stack([np.sin(yaw), np.cos(yaw), np.sin(phase), np.cos(phase), 5 * shift[:, 0], 5 * shift[:, 1]], 1)
    features = latent @ rng.normal(size=(6, D)) + 0.5 * rng.normal(size=(N, D))
    return features.astype(np.float32), torch.cat([kp, torch.ones(N, len(kps), 1)], -1).numpy()


def smooth_clip_setup(clip_seed: int):
    """Model, keypoint set, a random parent, a clip (features, dense truth) from ``clip_seed``,
    the annotated frames (every EVERY-th) and the training keypoints (the others blanked)."""
    torch.set_num_threads(1)
    model, kps = load_model("procedural"), load_keypoint_set("badja20")
    parent = random_parent(S, D)
    features, truth = smooth_clip(model, kps, parent.heads, np.random.default_rng(clip_seed))
    given = np.arange(N) % EVERY == 0
    train_kp = truth.copy()
    train_kp[~given, :, 2] = 0.0
    return model, kps, parent, features, truth, given, train_kp
