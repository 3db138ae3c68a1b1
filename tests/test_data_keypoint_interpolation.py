"""Training keypoints joined by straight lines in time: the reference and the soft targets."""

import numpy as np
import pytest

from smal4v.data.keypoint_interpolation import interpolate_training_keypoints, interpolation_targets


def test_straight_lines_between_training_frames_held_at_the_ends() -> None:
    n = 7
    kp = np.zeros((n, 2, 3))
    kp[:, 0, 0] = np.arange(n) * 10.0  # keypoint 0 moves right at 10 px / frame
    kp[:, 0, 1] = 5.0
    kp[:, :, 2] = 1.0
    kp[4, 0, 2] = 0.0  # invisible on training frame 4: frames 2..6 interpolate 2 -> 6
    kp[:, 1, :2] = [[3.0, 4.0]]
    kp[:, 1, 2] = 0.0  # keypoint 1 is never visible on a training frame
    train = np.array([False, False, True, False, True, False, True])
    out = interpolate_training_keypoints(kp, train)
    # keypoint 0: held at frame 2's position before it, straight line 2 -> 6 (frame 4 skipped)
    np.testing.assert_allclose(out[:, 0, 0], [20, 20, 20, 30, 40, 50, 60])
    np.testing.assert_allclose(out[:, 0, 1], 5.0)
    # keypoint 1: the frame's mean of the known keypoints (only keypoint 0 here)
    np.testing.assert_allclose(out[:, 1], out[:, 0])


def test_no_training_keypoint_is_an_error() -> None:
    kp = np.ones((3, 2, 3))
    with pytest.raises(ValueError, match="no keypoint"):
        interpolate_training_keypoints(kp, np.zeros(3, bool))
    with pytest.raises(ValueError, match="disagree"):
        interpolate_training_keypoints(kp, np.zeros(4, bool))


def test_soft_targets_trust_frames_near_an_annotation_more() -> None:
    kp = np.zeros((9, 2, 3))
    kp[:, 0, :2] = np.arange(9)[:, None] * [2.0, 1.0]
    kp[[0, 8], 0, 2] = 1.0  # keypoint 0 annotated on frames 0 and 8 only
    kp[4, 1] = [7.0, 7.0, 1.0]  # keypoint 1 on frame 4 only
    out = interpolation_targets(kp, decay=2.0)
    np.testing.assert_allclose(out[:, 0, :2], kp[:, 0, :2])  # straight motion: the lines are exact
    np.testing.assert_allclose(out[:, 0, 2], np.exp(-np.array([0, 1, 2, 3, 4, 3, 2, 1, 0]) / 2.0) * (np.arange(9) % 8 != 0))
    np.testing.assert_allclose(out[:, 1, :2], 7.0)
    np.testing.assert_allclose(out[:, 1, 2], np.exp(-np.abs(np.arange(9) - 4) / 2.0) * (np.arange(9) != 4))
    with pytest.raises(ValueError, match="decay"):
        interpolation_targets(kp, decay=0.0)
