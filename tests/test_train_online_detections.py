"""The parent's keypoint-head detections as online soft targets (weight ``head_detections``):
stored with the features by ``encode_features``, weighted by the head's visibility probability,
silent on annotated frames, and pulling the frames without annotation towards them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from online_helpers import S, smooth_clip_setup

from smal4v.data import artifacts
from smal4v.model import load_keypoint_set, load_model
from smal4v.nets.single_frame import build_single_frame_net
from smal4v.train.config import NetConfig, OnlineTrainConfig
from smal4v.train.online import SequenceData, detection_targets, soft_keypoint_targets, train_online
from smal4v.train.scene import Scene
from smal4v.train.single_frame import detect_single_frame, load_single_frame_net
from smal4v.train.stages import encode_features


def test_detection_targets_are_silent_on_annotated_frames() -> None:
    detections = torch.rand(5, 3, 3)
    keypoints = torch.zeros(5, 3, 3)
    keypoints[[0, 3], 1, 2] = 1.0  # frames 0 and 3 have a training keypoint
    out = detection_targets(detections, keypoints)
    torch.testing.assert_close(out[..., :2], detections[..., :2])
    assert out[[0, 3], :, 2].eq(0).all()
    torch.testing.assert_close(out[[1, 2, 4], :, 2], detections[[1, 2, 4], :, 2])  # the head's probability


def test_a_weight_without_detections_says_what_to_train() -> None:
    data = SequenceData(np.zeros((4, 8), np.float32), None, None, S, name="clip_7")
    cfg = OnlineTrainConfig.from_dict({"weights": {"head_detections": 1.0}})
    with pytest.raises(ValueError, match="clip_7.*keypoint_head: true"):
        soft_keypoint_targets(data, cfg)
    assert soft_keypoint_targets(data, OnlineTrainConfig()) == {}  # unweighted: no targets, no error


def test_encode_features_stores_the_heads_detections(tmp_path: Path) -> None:
    """A parent with a keypoint head: features.h5 holds its detections (the reloaded network's own
    head output on the same crops) beside its encoder's features; a parent without one stores none."""
    torch.set_num_threads(1)
    model, kps = load_model("procedural"), load_keypoint_set("badja20")
    crops = np.random.default_rng(0).integers(0, 255, (3, S, S, 3)).astype(np.uint8)
    artifacts.write_artifact(tmp_path / "frames.h5", "frames", {
        "frames": crops, "crops": crops, "crop_boxes": np.tile([0.0, 0.0, S], (3, 1)), "bboxes": np.zeros((3, 4))},
        {"fps": 10.0, "source": "test", "frame_names": ["0", "1", "2"]})
    for head in (True, False):
        torch.manual_seed(0)
        net = build_single_frame_net(NetConfig.from_dict({"image_size": S, "feature_dim": 32, "keypoint_head": head,
                                                          "num_keypoints": len(kps.names) if head else 0}), model)
        path = tmp_path / f"parent_{head}.pt"
        torch.save({"model": net.state_dict(), "net_config": net.config.to_dict()}, path)
        encode_features(str(path), str(tmp_path / "frames.h5"), str(tmp_path / "features.h5"), "procedural", "cpu", "test")
        encoded = artifacts.read_artifact(tmp_path / "features.h5", "features")
        stored = encoded.get("detections")
        features = load_single_frame_net(path, model).encoder.encode_frames(crops)
        np.testing.assert_allclose(encoded["features"], features, atol=1e-5)  # one pass gives both
        if not head:
            assert stored is None
            continue
        expected = detect_single_frame(load_single_frame_net(path, model), crops)[1].as_targets().numpy()
        np.testing.assert_allclose(stored, expected, atol=1e-5)
        assert stored.shape == (3, len(kps.names), 3) and ((stored[..., 2] > 0) & (stored[..., 2] < 1)).all()


@pytest.mark.slow
def test_detections_pull_the_frames_without_annotation_towards_them(tmp_path) -> None:
    """Detections at the true keypoints: with weight ``head_detections`` the unannotated frames
    end nearer the truth than without; marked unseen (probability 0) they change nothing."""
    model, kps, parent, features, truth, given, train_kp = smooth_clip_setup(1)
    seen = truth.copy()
    unseen = truth.copy()
    unseen[..., :2] += 20.0  # far off, but never seen: no pull
    unseen[..., 2] = 0.0
    error = {}
    for name, detections, weight in (("none", seen, 0.0), ("seen", seen, 10.0), ("unseen", unseen, 10.0)):
        cfg = {"temporal": False, "epochs": 8, "warmup_epochs": 0, "lr": 3e-3, "progress": False, "device": "cpu",
               "checkpoint_every": 1000, "weights": {"head_detections": weight}}
        data = SequenceData(features, train_kp, None, S, detections=detections)
        _, preds, _ = train_online(parent, model, None, data, cfg, tmp_path / name, kps)
        with torch.no_grad():
            kp = Scene(model, kps, S, S)(preds, silhouette=False).keypoints.numpy()
        error[name] = float(np.linalg.norm(kp[~given] - truth[~given, :, :2], axis=-1).mean())
    assert error["seen"] < 0.85 * error["none"], error  # measured: 2.01 against 2.62 px
    assert error["unseen"] == pytest.approx(error["none"], abs=1e-5), error
