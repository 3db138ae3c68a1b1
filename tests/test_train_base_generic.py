"""A base network trained for a test-sized budget on rendered generic images beats a mean-pose
predictor on held-out generic images (new animals, poses and views)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from smal4v.data.generic_images import render_generic_images
from smal4v.evaluate.image_protocol import crop_predictions, image_set_scores
from smal4v.model import load_keypoint_set, load_model
from smal4v.nets.single_frame import build_single_frame_net
from smal4v.train.datasets import FrameDataset
from smal4v.train.loop import seed_everything
from smal4v.train.single_frame import train_single_frame

S = 64
# a narrower world than the workflow's (side-ish views, no truncation) so a few hundred steps suffice
WORLD = {"image_size": S, "azimuth_deg": [50, 130], "elevation_deg": [0, 25], "truncate": 0.0, "off_family": 0.0,
         "environments": 3, "clutter": [0, 20], "fill": [0.7, 0.9], "roll_deg": 3.0}
MARGIN = 0.08  # PCK@0.15 (sqrt area) above the mean-pose predictor's (measured at stop 24: 0.284 vs 0.179;
# 30 epochs instead of 45 gave 0.258, too close to the margin to save the time)


def _as_set(g) -> dict[str, np.ndarray]:
    n = len(g.images)
    return {"keypoints": g.keypoints, "masks": g.masks, "has_mask": np.ones(n, bool), "in_image": np.ones((n, S, S), bool)}


@pytest.mark.slow
def test_base_beats_mean_pose_predictor(tmp_path):
    torch.set_num_threads(1)
    model, kps = load_model("procedural"), load_keypoint_set("badja20")
    train = render_generic_images(model, kps, WORLD, 240, seed=1)
    held = render_generic_images(model, kps, WORLD, 60, seed=2)
    data = FrameDataset(train.images, train.keypoints, train.masks,
                        gt={k: getattr(train, k) for k in ("betas", "pose", "trans", "focal")}, name="generic")
    seed_everything(0)
    net = build_single_frame_net({"image_size": S, "feature_dim": 64}, model)
    # no flip: in this narrow world a mirrored crop is a view the held-out set never shows
    cfg = {"epochs": 45, "batch_size": 16, "lr": 1e-3, "progress": False, "device": "cpu", "checkpoint_every": 100,
           "augment": {"color_gain": 0.2},
           "weights": {"keypoints": 10, "silhouette": 0, "betas": 1, "pose": 1, "trans": 1, "focal": 1, "vertices": 1}}
    train_single_frame(net, model, None, data, cfg, tmp_path, keypoint_set=kps)

    _, _, pred_kp, pred_sil = crop_predictions(net, held.images, model, kps)
    # the mean-pose predictor: the training set's mean keypoint layout and its mean silhouette
    mean_kp = np.broadcast_to(train.keypoints[..., :2].mean(0), pred_kp.shape)
    mean_sil = np.broadcast_to(train.masks.mean(0) > 0.5, pred_sil.shape)
    parts = dict(kps.parts)
    learned = image_set_scores(pred_kp, pred_sil, _as_set(held), parts)
    baseline = image_set_scores(mean_kp, mean_sil, _as_set(held), parts)
    assert learned["pck"] >= baseline["pck"] + MARGIN, (learned, baseline)
    assert learned["iou"] >= baseline["iou"] + 0.01, (learned, baseline)
