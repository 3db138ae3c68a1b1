"""Flow-based silhouette densification on a synthetic textured disc moving over texture."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from smal4v.evaluate.metrics import iou_per_frame, silhouette_scores
from smal4v.segment.flow import FlowParams, densify_flow, densify_nearest


def moving_disc(n: int = 21, h: int = 80, w: int = 112, r: int = 16, seed: int = 0):
    """Frames (N,H,W,3) and true masks of a textured disc moving ~3 px/frame on a textured
    background (its texture moves with it, so flow sees the true motion)."""
    rng = np.random.default_rng(seed)
    bg = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3)).astype(np.uint8), (0, 0), 1.5)
    tex = cv2.GaussianBlur(rng.integers(0, 256, (2 * r + 1, 2 * r + 1, 3)).astype(np.uint8), (0, 0), 1.0)
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    frames, masks = [], []
    for t in range(n):
        cx, cy = 24 + 3.0 * t, 30 + 12 * np.sin(t / 4)
        m = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
        shift = np.float32([[1, 0, cx - r - 0.5], [0, 1, cy - r - 0.5]])
        disc = cv2.warpAffine(tex, shift, (w, h), flags=cv2.INTER_LINEAR)
        f = bg.copy()
        f[m] = disc[m]
        frames.append(f)
        masks.append(m)
    return np.stack(frames), np.stack(masks)


def test_flow_densification_tracks_a_moving_disc():
    frames, gt = moving_disc()
    given = np.zeros(len(frames), bool)
    given[::5] = True
    masks, probs = densify_flow(frames, np.where(given[:, None, None], gt, False), given, {"progress": False})
    other = ~given
    np.testing.assert_array_equal(masks[given], gt[given])
    assert (probs[given] == gt[given] * 255).all()
    flow = silhouette_scores(masks, gt, other)
    near = silhouette_scores(densify_nearest(gt, given)[0], gt, other)
    assert flow["J"] >= 0.9, flow
    assert iou_per_frame(masks[other], gt[other]).min() >= 0.85
    assert flow["J"] > near["J"] + 0.15 and flow["F"] > near["F"], (flow, near)
    # probabilities agree with the thresholded masks away from the boundary
    assert ((probs[other] >= 128) == masks[other]).mean() > 0.98


def test_farneback_and_downscaled_work_resolution_also_track():
    frames, gt = moving_disc(n=11)
    given = np.zeros(len(frames), bool)
    given[[0, 10]] = True
    near = silhouette_scores(densify_nearest(gt, given)[0], gt, ~given)["J"]  # about 0.45
    for params in ({"method": "farneback"}, {"work_max_side": 80}):  # about 0.75 and 0.87
        masks, _ = densify_flow(frames, gt, given, {**params, "progress": False})
        j = silhouette_scores(masks, gt, ~given)["J"]
        assert j > 0.7 and j > near + 0.2, (params, j, near)


def test_single_given_frame_propagates_both_ways_and_errors():
    frames, gt = moving_disc(n=7)
    given = np.zeros(7, bool)
    given[3] = True
    masks, _ = densify_flow(frames, gt, given, FlowParams(progress=False))
    assert iou_per_frame(masks, gt).min() > 0.85
    with pytest.raises(ValueError, match="at least one given mask"):
        densify_flow(frames, gt, np.zeros(7, bool))
    with pytest.raises(ValueError, match=r"flow densification: unknown keys \[.bogus.\]"):
        densify_flow(frames, gt, given, {"bogus": 1})


def test_nearest_baseline_copies_nearest_given_mask():
    masks = np.zeros((5, 2, 2), bool)
    masks[0, 0, 0] = True
    masks[4, 1, 1] = True
    given = np.array([1, 0, 0, 0, 1], bool)
    out, _ = densify_nearest(masks, given)
    assert [tuple(np.argwhere(m)[0]) for m in out] == [(0, 0), (0, 0), (0, 0), (1, 1), (1, 1)]
