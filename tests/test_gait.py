"""Gait generator: footfall order, diagonal pairs, periodicity, limits of the procedural spec."""

from __future__ import annotations

import numpy as np
import pytest

from smal4v.model.gait import DEFAULT_PARAMS, LEG_JOINTS, TAIL, gait_pose
from smal4v.model.procedural import load_spec
from smal4v.model.procedural.pose_prior import joint_limits

PHASE = np.linspace(0.0, 1.0, 400, endpoint=False)


def upper_angle(pose: np.ndarray, leg: str) -> np.ndarray:
    return pose[:, LEG_JOINTS[leg][0], 1]


def most_forward_phase(pose: np.ndarray, leg: str) -> float:
    """Phase where the upper leg is most protracted (most negative y rotation): the footfall."""
    return float(PHASE[np.argmin(upper_angle(pose, leg))])


@pytest.mark.parametrize("gait", ["walk", "trot"])
def test_shape_root_zero_and_periodic(gait: str) -> None:
    pose = gait_pose(PHASE, gait)
    assert pose.shape == (len(PHASE), 35, 3)
    assert np.all(pose[:, 0] == 0.0)
    np.testing.assert_allclose(gait_pose(PHASE + 1.0, gait), pose, atol=1e-9)
    np.testing.assert_allclose(gait_pose(PHASE - 3.0, gait), pose, atol=1e-9)


def test_walk_is_four_beat_lateral_sequence() -> None:
    pose = gait_pose(PHASE, "walk")
    falls = {leg: most_forward_phase(pose, leg) for leg in ("LB", "LF", "RB", "RF")}
    order = sorted(falls, key=falls.get)
    # lateral sequence: hind then fore on one side, then the other side, a quarter cycle apart
    start = order.index("LB")
    assert order[start:] + order[:start] == ["LB", "LF", "RB", "RF"]
    gaps = np.diff(sorted(falls.values()) + [min(falls.values()) + 1.0])
    np.testing.assert_allclose(gaps, 0.25, atol=0.01)


def test_trot_moves_diagonal_pairs_together() -> None:
    pose = gait_pose(PHASE, "trot")
    lf, rf, lb, rb = (upper_angle(pose, k) for k in ("LF", "RF", "LB", "RB"))
    np.testing.assert_allclose(lf / np.abs(lf).max(), rb / np.abs(rb).max(), atol=1e-9)
    np.testing.assert_allclose(rf / np.abs(rf).max(), lb / np.abs(lb).max(), atol=1e-9)
    shifted = gait_pose(PHASE + 0.5, "trot")  # half a cycle later the other diagonal does the same
    np.testing.assert_allclose(upper_angle(shifted, "LF"), rf, atol=1e-9)


@pytest.mark.parametrize("gait", ["walk", "trot"])
def test_swing_flexes_lower_joints_and_tail_sways(gait: str) -> None:
    pose = gait_pose(PHASE, gait)
    for leg, (upper, middle, lower, _) in LEG_JOINTS.items():
        moving_forward = np.diff(np.append(pose[:, upper, 1], pose[0, upper, 1])) < -1e-6
        flex = np.abs(pose[:, lower, 1])
        assert flex[moving_forward].mean() > 0.3, leg  # flexed while the leg swings forward
        assert flex[~moving_forward].max() < 1e-9, leg  # straight in stance
    assert np.ptp(pose[:, TAIL[0], 2]) > 0.1


@pytest.mark.parametrize("gait", ["walk", "trot"])
def test_gait_poses_respect_spec_limits(gait: str) -> None:
    limits = joint_limits(load_spec()["pose_prior"])
    for scale in (1.0, 1.4):
        params = {k: v * scale for k, v in DEFAULT_PARAMS[gait].items() if k != "duty"}
        pose = gait_pose(PHASE, gait, params)
        assert np.all(pose >= limits[..., 0] - 1e-9) and np.all(pose <= limits[..., 1] + 1e-9)


def test_params_scale_amplitude_and_bad_input_raises() -> None:
    base = gait_pose(PHASE, "walk")
    big = gait_pose(PHASE, "walk", {"swing_front": 2 * DEFAULT_PARAMS["walk"]["swing_front"]})
    np.testing.assert_allclose(big[:, LEG_JOINTS["LF"][0], 1], 2 * base[:, LEG_JOINTS["LF"][0], 1])
    with pytest.raises(ValueError, match="unknown gait parameter"):
        gait_pose(PHASE, "walk", {"speed": 1.0})
    with pytest.raises(ValueError, match="unknown gait"):
        gait_pose(PHASE, "gallop")
