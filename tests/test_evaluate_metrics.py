"""Metrics on hand-made examples with known answers."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from smal4v.evaluate import metrics as M
from smal4v.evaluate.procrustes import umeyama


def test_pck_hand_example_excludes_frames_without_visible_keypoints():
    gt = np.zeros((3, 4, 3))
    gt[0] = [[0, 0, 1], [10, 0, 1], [0, 10, 1], [5, 5, 0]]
    gt[1] = [[0, 0, 1], [0, 0, 0], [0, 0, 0], [0, 0, 0]]
    # frame 2: nothing visible -> NaN, excluded (not counted as 0)
    pred = gt[..., :2].copy()
    pred[0, 1] += [3, 4]  # error 5
    pred[0, 2] += [0, 12]  # error 12
    pred[0, 3] += [100, 0]  # invisible: ignored
    pred[1, 0] += [9, 0]  # error 9
    norm = np.array([100.0, 100.0, 100.0])
    per = M.pck_per_frame(pred, gt, norm, 0.1)  # threshold 10 px
    np.testing.assert_allclose(per[:2], [2 / 3, 1.0])
    assert np.isnan(per[2])
    out = M.pck(pred, gt, norm, alphas=(0.05, 0.1, 0.15), parts={"a": [0, 1], "b": [2, 3]})
    assert out["pck@0.1"] == pytest.approx((2 / 3 + 1) / 2)
    assert out["pck@0.05"] == pytest.approx((1 / 3 + 0) / 2)  # threshold 5: error 5 is not < 5
    assert out["pck@0.15"] == pytest.approx(1.0)
    assert out["pck@0.1_a"] == pytest.approx(1.0)  # frame 0: 2/2, frame 1: 1/1
    assert out["pck@0.1_b"] == pytest.approx(0.0)  # only frame 0 has a visible 'b' point
    sel = M.pck(pred, gt, norm, alphas=(0.1,), frames=np.array([0, 0, 1], bool))
    assert np.isnan(sel["pck@0.1"])


def test_pck_normalisers():
    masks = np.zeros((2, 10, 10), bool)
    masks[0, :5, :5] = True
    np.testing.assert_allclose(M.mask_area_norm(masks)[0], 5.0)
    assert np.isnan(M.mask_area_norm(masks)[1])
    assert np.isnan(M.mask_area_norm(masks, np.array([0, 1], bool))[0])
    kp = np.array([[[1, 1, 1], [4, 9, 1]], [[0, 0, 1], [3, 3, 0]]], dtype=float)
    boxes = M.gt_boxes(kp, masks)
    np.testing.assert_allclose(boxes[0], [0, 0, 5, 5])  # from the mask
    np.testing.assert_allclose(M.bbox_norm(boxes), [5, np.nan])  # frame 1: 1 visible kp only


def test_pck_interchangeable_pair():
    gt = np.array([[[0, 0, 1], [10, 0, 1]]], dtype=float)
    pred = np.array([[[10, 0], [0, 0]]], dtype=float)  # left/right swapped
    norm = np.array([20.0])
    assert M.pck_per_frame(pred, gt, norm, 0.1)[0] == 0
    assert M.pck_per_frame(pred, gt, norm, 0.1, swap_pairs=[(0, 1)])[0] == 1
    # only one of the pair visible: swap chosen by the visible point alone
    gt2 = gt.copy()
    gt2[0, 1, 2] = 0
    assert M.pck_per_frame(pred, gt2, norm, 0.1, swap_pairs=[(0, 1)])[0] == 1


def test_iou_and_jf():
    a = np.zeros((3, 20, 20), bool)
    b = np.zeros((3, 20, 20), bool)
    a[0, :10, :10] = True
    b[0, :10, 5:15] = True  # IoU 50/150
    a[1, 5:15, 5:15] = True
    b[1, 5:15, 5:15] = True  # identical
    # frame 2 both empty -> 1
    np.testing.assert_allclose(M.iou_per_frame(a, b), [1 / 3, 1, 1])
    assert M.mean_iou(a, b, np.array([1, 0, 0], bool)) == pytest.approx(1 / 3)
    s = M.silhouette_scores(a, b)
    assert s["F"] <= 1 and M.boundary_f(a[1], b[1]) == 1.0
    # a 1-pixel shift is within a 1-pixel tolerance
    c = np.zeros((30, 30), bool)
    c[10:20, 10:20] = True
    d = np.roll(c, 1, axis=1)
    assert M.boundary_f(c, d, bound_th=1) == 1.0
    # a fractional threshold is relative to the diagonal: ceil(0.01 * 42.4) = 1 px here
    assert M.boundary_f(c, np.roll(c, 2, axis=1), bound_th=0.01) == M.boundary_f(c, np.roll(c, 2, axis=1), bound_th=1) < 1
    assert M.boundary_f(c, np.roll(c, 3, axis=1), bound_th=1) < 0.75
    assert M.boundary_f(c, np.zeros_like(c)) == 0.0


def test_boundary_map_and_f_by_hand():
    m = np.zeros((5, 5), bool)
    m[1:4, 1:4] = True
    expected = m.copy()
    expected[2, 2] = False
    np.testing.assert_array_equal(M.boundary_map(m), expected)
    # pred boundary = gt boundary shifted 2 px right; tolerance 1 px:
    # 3x3 squares, boundaries of 8 pixels each; matched precision = pixels of pred boundary
    # within 1 px (disk) of gt boundary.
    g = np.zeros((9, 9), bool)
    g[3:6, 1:4] = True
    p = np.zeros((9, 9), bool)
    p[3:6, 3:6] = True
    bp, bg = M.boundary_map(p), M.boundary_map(g)
    prec = sum(1 for y, x in np.argwhere(bp) if any(abs(y - y2) + abs(x - x2) <= 1 for y2, x2 in np.argwhere(bg)))
    rec = sum(1 for y, x in np.argwhere(bg) if any(abs(y - y2) + abs(x - x2) <= 1 for y2, x2 in np.argwhere(bp)))
    prec, rec = prec / bp.sum(), rec / bg.sum()
    assert M.boundary_f(p, g, bound_th=1) == pytest.approx(2 * prec * rec / (prec + rec))


def test_jitter():
    t = np.arange(5, dtype=float)
    kp = np.zeros((5, 2, 2))
    kp[:, 0, 0] = 2 * t  # constant velocity: no jitter
    kp[:, 1, 1] = t**2  # constant acceleration 2 px/frame^2
    assert M.keypoint_jitter(kp) == pytest.approx(1.0)  # mean of 0 and 2
    valid = np.ones((5, 2), bool)
    valid[:, 1] = False
    assert M.keypoint_jitter(kp, valid) == pytest.approx(0.0)
    assert np.isnan(M.keypoint_jitter(kp[:2]))


def test_acceleration_error_against_the_true_motion():
    t = np.arange(6, dtype=float)
    truth = np.ones((6, 2, 3))
    truth[:, 0, 0] = t**2  # keypoint 0 accelerates at 2 px/frame^2, keypoint 1 stands still
    frozen = np.zeros((6, 2, 2))  # no jitter at all, but keypoint 0's motion is missed
    assert M.keypoint_jitter(frozen) == pytest.approx(0.0)
    assert M.acceleration_error(frozen, truth) == pytest.approx(1.0)  # mean of |0 - 2| and 0
    shifted = truth[..., :2] + 5.0  # the true motion anywhere: no error
    assert M.acceleration_error(shifted, truth) == pytest.approx(0.0)
    truth[3, 0, 2] = 0  # keypoint 0 hidden at frame 3: only its triplets 0-2 remain, and keypoint 1's 4
    assert M.acceleration_error(frozen, truth) == pytest.approx(2.0 / 5.0)
    assert np.isnan(M.acceleration_error(frozen[:2], truth[:2]))


def test_procrustes_recovers_similarity_and_errors():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3))
    r = Rotation.from_rotvec([0.3, -0.5, 1.1]).as_matrix()
    y = 2.5 * x @ r.T + np.array([1.0, -2.0, 3.0])
    s, rot, t = umeyama(x, y)
    assert s == pytest.approx(2.5) and np.allclose(rot, r) and np.allclose(t, [1, -2, 3])
    assert M.procrustes_error(x[None], y[None]) == pytest.approx(0, abs=1e-9)
    # a mirrored shape cannot be aligned by a rotation: error stays positive
    assert M.procrustes_error((x * [1, 1, -1])[None], x[None]) > 0.1
    noisy = y + rng.normal(scale=0.01, size=y.shape)
    assert M.procrustes_error(x[None], noisy[None]) < 0.02
    joints = np.zeros((1, 3, 3))
    joints[0, 1] = [1, 0, 0]
    pred = joints + [5, 5, 5]
    pred[0, 2] += [0, 3, 4]
    assert M.mpjpe(pred, joints) == pytest.approx(5 / 3)
    assert M.mpjpe(pred, joints, root=None) == pytest.approx((2 * np.sqrt(75) + np.sqrt(170)) / 3)


def test_joint_angle_error_degrees_excluding_root():
    gt = np.zeros((2, 3, 3))
    pred = np.zeros((2, 3, 3))
    pred[:, 0] = [0, 0, 3.0]  # root: ignored
    pred[0, 1] = [np.radians(30), 0, 0]
    pred[1, 2] = [0, np.radians(-90), 0]
    assert M.joint_angle_error(pred, gt) == pytest.approx((30 + 90) / 4)
    # rotations of 350 deg and -10 deg about the same axis are the same rotation
    a = np.array([[[0, 0, 0], [0, 0, np.radians(350)]]])
    b = np.array([[[0, 0, 0], [0, 0, np.radians(-10)]]])
    assert M.joint_angle_error(a, b) == pytest.approx(0, abs=1e-6)


def test_turned_root_errors_name_the_turn_that_undoes_the_error():
    # true roots: turned 90 deg about the body's up axis (model z) after the predicted ones, so the
    # hypothesis turning the prediction by +90 deg is exact and the others are 90 / 180 / 90 deg off
    rng = np.random.default_rng(4)
    pred = rng.normal(size=(5, 3))
    c, s = np.cos(np.pi / 2), np.sin(np.pi / 2)
    turn = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    truth = np.stack([cv2.Rodrigues(cv2.Rodrigues(p)[0] @ turn)[0][:, 0] for p in pred])
    errors = M.turned_root_errors(pred, truth, [0, np.pi / 2, np.pi, 3 * np.pi / 2])
    assert errors == pytest.approx([90, 0, 90, 180], abs=1e-6)
    with pytest.raises(ValueError, match="3 predicted and 5 true"):
        M.turned_root_errors(pred[:3], truth, [0.0])


def test_vertex_error_counts_what_procrustes_removes():
    rng = np.random.default_rng(3)
    gt = rng.normal(size=(2, 50, 3))
    moved = gt + np.array([0.0, 0.0, 5.0])  # a depth error only
    assert M.vertex_error(moved, gt) == pytest.approx(0, abs=1e-12)
    assert M.vertex_error(moved, gt, centre=False) == pytest.approx(5.0)
    bigger = gt * 1.2  # a size error: Procrustes with scale hides it, MPVPE does not
    assert M.procrustes_error(bigger, gt) == pytest.approx(0, abs=1e-9)
    centred = gt - gt.mean(1, keepdims=True)
    expected = np.linalg.norm(0.2 * centred, axis=-1).mean()
    assert M.vertex_error(bigger, gt) == pytest.approx(expected)
