"""The temporal network earns its place: on a clip made for it (smooth motion, noisy per-frame
features, keypoints on every 6th frame) ``online`` beats ``online_single`` on the frames whose
keypoints it was not given, and is smoother."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from online_helpers import EVERY, S, smooth_clip_setup

from smal4v.data.keypoint_interpolation import interpolate_training_keypoints
from smal4v.evaluate.metrics import keypoint_jitter, nanmean, pck_per_frame
from smal4v.nets.temporal import predict_sequence
from smal4v.train.config import OnlineTrainConfig
from smal4v.train.online import SequenceData, load_online_net, train_online
from smal4v.train.scene import Scene

@pytest.mark.slow
def test_online_beats_online_single_on_a_smooth_clip(tmp_path):
    model, kps, parent, features, truth, given, train_kp = smooth_clip_setup(0)
    data = SequenceData(features, train_kp, None, S, name="clip")
    defaults = OnlineTrainConfig()
    scores = {}
    for temporal in (False, True):
        cfg = {"temporal": temporal, "epochs": 25, "warmup_epochs": 0, "gru_hidden": 32, "lr": 3e-3,
               "progress": False, "device": "cpu", "checkpoint_every": 1000}
        _, preds, _ = train_online(parent, model, None, data, cfg, tmp_path / str(temporal), kps)
        with torch.no_grad():
            kp = Scene(model, kps, S, S)(preds, silhouette=False).keypoints.numpy()
        pck = nanmean(pck_per_frame(kp[~given], truth[~given], np.full((~given).sum(), float(S)), 0.05))
        scores[temporal] = (pck, keypoint_jitter(kp))
    (pck_single, jitter_single), (pck_online, jitter_online) = scores[False], scores[True]
    assert defaults.bidirectional and defaults.window > EVERY  # the defaults this test stands for
    assert pck_online >= pck_single + 0.05, scores
    assert jitter_online < 0.85 * jitter_single, scores


@pytest.mark.slow
def test_interpolated_targets_pull_the_frames_between_annotations_to_the_straight_lines(tmp_path):
    """With weight ``interpolated_keypoints`` > 0 the keypoints of the frames without
    annotations end nearer the straight lines between the annotated frames than without it."""
    model, kps, parent, features, truth, given, train_kp = smooth_clip_setup(1)
    lines = interpolate_training_keypoints(train_kp, given)
    distance = {}
    for weight in (0.0, 10.0):
        cfg = {"temporal": False, "epochs": 8, "warmup_epochs": 0, "lr": 3e-3, "progress": False, "device": "cpu",
               "checkpoint_every": 1000, "weights": {"interpolated_keypoints": weight}}
        _, preds, _ = train_online(parent, model, None, SequenceData(features, train_kp, None, S), cfg,
                                   tmp_path / str(weight), kps)
        with torch.no_grad():
            kp = Scene(model, kps, S, S)(preds, silhouette=False).keypoints.numpy()
        distance[weight] = float(np.linalg.norm(kp[~given] - lines[~given], axis=-1).mean())
    assert distance[10.0] < 0.9 * distance[0.0], distance  # measured: 2.05 against 2.40 px


def test_a_trained_online_network_loads_back_and_predicts_the_same(tmp_path):
    """``load_online_net`` rebuilds the per-video network from its checkpoint (settings included):
    the same merge gives the training run's predictions, another merge other ones."""
    model, kps, parent, features, _, _, train_kp = smooth_clip_setup(1)
    data = SequenceData(features, train_kp, None, S, name="clip")
    cfg = {"epochs": 2, "warmup_epochs": 0, "gru_hidden": 16, "lr": 3e-3, "view_hypotheses": 1,
           "progress": False, "device": "cpu", "checkpoint_every": 1000}
    _, preds, _ = train_online(parent, model, None, data, cfg, tmp_path, kps)
    net, loaded_cfg = load_online_net(tmp_path / "checkpoint.pt", parent, model, torch.from_numpy(features))
    assert loaded_cfg == OnlineTrainConfig.from_dict(cfg | {"seed": 0}, "online")
    again = predict_sequence(net, torch.from_numpy(features), loaded_cfg.window, loaded_cfg.stride, loaded_cfg.merge)
    assert torch.equal(again.trans, preds.trans) and torch.equal(again.pose, preds.pose)
    tapered = predict_sequence(net, torch.from_numpy(features), loaded_cfg.window, loaded_cfg.stride, "taper")
    assert not torch.allclose(tapered.trans, preds.trans)
