"""The parent's keypoint head adapted to one video (``detector_adaptation``): fine-tuned on the
video's annotated frames, it detects better on the video's other frames; the parent is left as it
was; ``encode_features`` stores the adapted copy's detections beside the parent's features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from smal4v.data import artifacts
from smal4v.data.annotations import SPLIT_HELDOUT, SPLIT_TRAIN
from smal4v.nets.single_frame import build_single_frame_net
from smal4v.train.config import DetectorAdaptationConfig, NetConfig
from smal4v.train.detector_adaptation import adapt_detector, adaptation_targets, annotated_rows
from smal4v.train.single_frame import encode_and_detect
from smal4v.train.stages import encode_features, online_sequence_data

S, N = 64, 6
NO_AUGMENT = {"augment": {"flip": 0.0, "color_gain": 0.0, "scale_jitter": 0.0}}


def _parent(model, kps) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = NetConfig.from_dict({"image_size": S, "feature_dim": 32, "keypoint_head": True, "num_keypoints": len(kps.names)})
    return build_single_frame_net(cfg, model).eval()


def _video(kps) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One animal look on every frame (a fixed texture with a little noise), its keypoints at fixed
    places, annotated on frames 0 and 3 only; and those true keypoints on every frame."""
    rng = np.random.default_rng(1)
    k = len(kps.names)
    truth = np.stack([rng.uniform(12, 52, k), rng.uniform(12, 52, k), np.ones(k)], -1).astype(np.float32)
    look = rng.integers(0, 255, (S, S, 3))
    crops = np.clip(look[None] + rng.normal(0, 8, (N, S, S, 3)), 0, 255).astype(np.uint8)
    keypoints = np.zeros((N, k, 3), np.float32)
    keypoints[[0, 3]] = truth
    return crops, keypoints, np.broadcast_to(truth, (N, k, 3))


def _error(net, crops: np.ndarray, truth: np.ndarray, rows: list[int]) -> float:
    xy = encode_and_detect(net, crops)[1].xy.numpy()
    return float(np.linalg.norm(xy[rows] - truth[rows, :, :2], axis=-1).mean())


def test_adaptation_detects_the_videos_keypoints_on_frames_it_never_saw(model, kps) -> None:
    """After 60 steps on frames 0 and 3, the detections on frames 1, 2, 4, 5 lie within a third of
    their distance before; the parent's weights are untouched."""
    parent = _parent(model, kps)
    crops, keypoints, truth = _video(kps)
    before = {k: v.clone() for k, v in parent.state_dict().items()}
    unseen = [1, 2, 4, 5]
    cfg = DetectorAdaptationConfig.from_dict({"steps": 60, "lr": 1e-3, **NO_AUGMENT})
    adapted = adapt_detector(parent, model, kps, crops, keypoints, None, cfg, seed=0, name="clip")
    assert _error(adapted, crops, truth, unseen) < _error(parent, crops, truth, unseen) / 3
    for name, value in parent.state_dict().items():
        torch.testing.assert_close(value, before[name], msg=f"the parent's {name} changed")


def test_no_steps_is_the_parent_itself(model, kps) -> None:
    parent = _parent(model, kps)
    crops, keypoints, _ = _video(kps)
    adapted = adapt_detector(parent, model, kps, crops, keypoints, None, {"steps": 0})
    torch.testing.assert_close(encode_and_detect(adapted, crops)[1].as_targets(), encode_and_detect(parent, crops)[1].as_targets())


def test_a_video_without_training_keypoints_says_what_to_set(model, kps) -> None:
    parent = _parent(model, kps)
    crops, keypoints, _ = _video(kps)
    with pytest.raises(ValueError, match="clip_9.*no training keypoints.*steps: 0"):
        adapt_detector(parent, model, kps, crops, np.zeros_like(keypoints), None, {"steps": 5}, name="clip_9")


def test_a_parent_without_a_head_cannot_be_adapted(model, kps) -> None:
    net = build_single_frame_net(NetConfig.from_dict({"image_size": S, "feature_dim": 32}), model)
    crops, keypoints, _ = _video(kps)
    with pytest.raises(ValueError, match="clip.*keypoint_head: true"):
        adapt_detector(net, model, kps, crops, keypoints, None, {"steps": 5}, name="clip")


@pytest.mark.parametrize("key, value", [("steps", -1), ("batch_size", 0), ("interpolated_within", -1)])
def test_config_rejects_counts_that_would_mean_no_adaptation(key: str, value: int) -> None:
    with pytest.raises(ValueError, match=f"detector_adaptation.{key}"):
        DetectorAdaptationConfig.from_dict({key: value})


def test_annotated_rows_are_the_frames_with_a_visible_keypoint() -> None:
    keypoints = np.zeros((5, 3, 3), np.float32)
    keypoints[1, 2, 2] = keypoints[4, 0, 2] = 1.0
    np.testing.assert_array_equal(annotated_rows(keypoints), [1, 4])


def test_interpolated_neighbours_lie_on_the_line_between_annotations_weighted_by_distance() -> None:
    """Annotations on frames 2 and 8 (a keypoint moving from x=0 to x=6): within 2 frames, frames
    3-4 and 6-7 get the straight line's position with weight exp(-d/2); frame 5 (3 frames away),
    frames before the first and after the last annotation get weight 0; annotated frames keep
    their labels."""
    kp = np.zeros((12, 2, 3), np.float32)
    kp[[2, 8], :, 2] = 1.0
    kp[8, :, :2] = 6.0
    out = adaptation_targets(kp, 2)
    np.testing.assert_array_equal(out[[2, 8]], kp[[2, 8]])
    np.testing.assert_allclose(out[[3, 4, 6, 7], 0, 0], [1, 2, 4, 5], atol=1e-6)
    np.testing.assert_allclose(out[[3, 4, 6, 7], 0, 2], np.exp(-np.array([1, 2, 2, 1]) / 2), atol=1e-6)
    assert (out[[0, 1, 5, 9, 10, 11], :, 2] == 0).all()
    np.testing.assert_array_equal(adaptation_targets(kp, 0), kp)


def test_encode_features_adapts_on_training_keypoints_only(model, kps, tmp_path: Path) -> None:
    """features.h5 keeps the parent's features and holds the detections of the copy adapted to the
    training-split keypoints: a held-out frame's keypoints, moved far away, change nothing."""
    crops, keypoints, _ = _video(kps)
    parent = _parent(model, kps)
    path = tmp_path / "parent.pt"
    torch.save({"model": parent.state_dict(), "net_config": parent.config.to_dict()}, path)
    artifacts.write_artifact(tmp_path / "frames.h5", "frames", {
        "frames": crops, "crops": crops, "crop_boxes": np.tile([0.0, 0.0, S], (N, 1)), "bboxes": np.zeros((N, 4))},
        {"fps": 10.0, "source": "test", "frame_names": [str(i) for i in range(N)]})
    masks = np.zeros((N, S, S), bool)
    masks[:, 16:48, 8:56] = True
    artifacts.write_artifact(tmp_path / "silhouettes.h5", "silhouettes", {"masks": masks, "probabilities": masks.astype(np.uint8) * 255},
                             {"method": "given"})
    split = np.zeros(N, np.uint8)
    split[[0, 3]], split[5] = SPLIT_TRAIN, SPLIT_HELDOUT
    cfg = {"steps": 20, **NO_AUGMENT}
    stored = []
    for held_out_x in (20.0, 500.0):
        annotated = keypoints.copy()
        annotated[5] = keypoints[0]
        annotated[5, :, 0] = held_out_x
        artifacts.write_artifact(tmp_path / "annotations.h5", "annotations", {
            "keypoints": annotated, "keypoint_split": split, "masks": masks, "masks_given": np.ones(N, bool)},
            {"keypoint_set": "badja20", "keypoint_names": kps.names})
        encode_features(str(path), str(tmp_path / "frames.h5"), str(tmp_path / "features.h5"), "procedural", "cpu", "test",
                        cfg, str(tmp_path / "annotations.h5"), str(tmp_path / "silhouettes.h5"), "badja20", seed=3)
        stored.append(artifacts.read_artifact(tmp_path / "features.h5", "features"))
    np.testing.assert_array_equal(stored[0]["detections"], stored[1]["detections"])
    np.testing.assert_allclose(stored[0]["features"], encode_and_detect(parent, crops)[0], atol=1e-5)
    expected = adapt_detector(parent, model, kps, crops, keypoints, masks.astype(np.float32), cfg, seed=3, name="x")
    np.testing.assert_allclose(stored[0]["detections"], encode_and_detect(expected, crops)[1].as_targets().numpy(), atol=1e-5)
    assert not np.allclose(stored[0]["detections"], encode_and_detect(parent, crops)[1].as_targets().numpy(), atol=1e-3)
    files = [str(tmp_path / f"{a}.h5") for a in ("features", "frames", "annotations", "silhouettes")]
    np.testing.assert_array_equal(online_sequence_data(*files, "x").detections.numpy(), stored[1]["detections"])
    other = np.zeros_like(stored[1]["detections"])  # a benchmark's re-adapted detections in their place
    np.testing.assert_array_equal(online_sequence_data(*files, "x", other).detections.numpy(), other)
