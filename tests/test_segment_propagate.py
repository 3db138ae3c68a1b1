"""The ``propagate`` densification: multi-scale flow, confidence-weighted log-odds fusion,
the segmenter prior and pluggable segmenters (a tiny segmenter class written by the test)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from smal4v.data import artifacts
from smal4v.evaluate.metrics import iou_per_frame
from smal4v.segment.densify import METHODS, densify_sequence
from smal4v.segment.flow import densify_nearest
from smal4v.segment.multiflow import FlowBank, MultiFlowParams
from smal4v.segment.propagate import PropagateParams, densify_propagate, fuse_and_finish, logit, propagated_logits
from smal4v.segment.segmenter import OsvosSegmenter, load_segmenter
from segment_helpers import run_densify_cli, write_sequence_artifacts

H, W = 64, 96
QUIET = {"progress": False}


def textured_disc(n: int = 16, speed: float = 3.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Frames and true masks of a textured disc moving ``speed`` px/frame over a textured background."""
    rng = np.random.default_rng(seed)
    bg = cv2.GaussianBlur(rng.integers(0, 256, (H, W, 3)).astype(np.uint8), (0, 0), 1.5)
    r = 12
    tex = cv2.GaussianBlur(rng.integers(0, 256, (2 * r + 1, 2 * r + 1, 3)).astype(np.uint8), (0, 0), 1.0)
    yy, xx = np.mgrid[0:H, 0:W] + 0.5
    frames, masks = [], []
    for t in range(n):
        cx, cy = 18 + speed * t, 30 + 6 * np.sin(t / 3)
        m = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
        disc = cv2.warpAffine(tex, np.float32([[1, 0, cx - r - 0.5], [0, 1, cy - r - 0.5]]), (W, H))
        f = bg.copy()
        f[m] = disc[m]
        frames.append(f)
        masks.append(m)
    return np.stack(frames), np.stack(masks)


def every(n: int, k: int) -> np.ndarray:
    g = np.zeros(n, bool)
    g[::k] = True
    return g


def test_static_video_fuses_both_given_masks_by_decayed_confidence():
    # no motion: flow ~ 0 and consistency ~ 1, so frame t's log-odds are
    # decay^(t - 0) logit(m0) + decay^(4 - t) logit(m4), the formula of the module docstring
    frames, _ = textured_disc(1)
    frames = np.repeat(frames, 5, axis=0)
    masks = np.zeros((5, H, W), bool)
    masks[0, 10:40, 10:40] = True
    masks[4, 20:50, 30:70] = True
    given = np.array([1, 0, 0, 0, 1], bool)
    p = PropagateParams.from_any({"step_decay": 0.8, "flow": {"scales": [1.0]}, **QUIET})
    got = propagated_logits(FlowBank(frames, p.flow_params()), masks, given, p)
    interior = (slice(2, -2), slice(2, -2))  # warping with zero flow is exact away from the border
    for t in (1, 2, 3):
        want = 0.8**t * logit(masks[0].astype(np.float32)) + 0.8 ** (4 - t) * logit(masks[4].astype(np.float32))
        np.testing.assert_allclose(got[t][interior], want[interior], atol=0.05)
    assert (got[[0, 4]] == 0).all()


def test_multiscale_consistency_is_the_best_single_scale_per_pixel():
    frames, _ = textured_disc(3, speed=6.0)
    both = FlowBank(frames, MultiFlowParams(scales=[1.0, 0.5]))
    flow, conf = both.flow(1, 0)
    singles = [both.with_scales([s]).flow(1, 0) for s in (1.0, 0.5)]
    np.testing.assert_allclose(conf, np.maximum(singles[0][1], singles[1][1]))
    pick_coarse = singles[1][1] > singles[0][1]
    np.testing.assert_array_equal(flow[pick_coarse], singles[1][0][pick_coarse])
    np.testing.assert_array_equal(flow[~pick_coarse], singles[0][0][~pick_coarse])
    # the disc moves ~6 px right between frames 0 and 1: flow 1 -> 0 points left on the disc
    _, gt = textured_disc(3, speed=6.0)
    assert np.median(flow[gt[1] & (conf > 0.5)][:, 0]) == pytest.approx(-6.0, abs=1.0)
    with pytest.raises(ValueError, match="not a subset"):
        both.with_scales([0.25])
    with pytest.raises(ValueError, match="scales must be fractions"):
        FlowBank(frames, MultiFlowParams(scales=[2.0]))


def test_a_region_without_evidence_is_background_not_the_largest_object():
    """Log-odds 0 (no direction carried confidence there, as in a textureless band whose flow fails
    its check) is not foreground: a larger such region must not win over the evidenced animal,
    as it did when ties went to the foreground (``no_evidence_logit: 0``)."""
    frames, _ = textured_disc(3)
    logits = np.full((3, H, W), -3.0, np.float32)
    logits[1, 30:45, 40:55] = 2.0  # the animal, carried from the given frames
    logits[1, :20, :] = 0.0  # a band neither direction says anything about, larger than the animal
    given = np.array([1, 0, 1], bool)
    plain = {"refine": "none", "morph_radius": 0, **QUIET}
    masks, probs = fuse_and_finish(frames, np.zeros((3, H, W), bool), given, logits, None, PropagateParams.from_any(plain))
    want = np.zeros((H, W), bool)
    want[30:45, 40:55] = True
    np.testing.assert_array_equal(masks[1], want)
    assert (probs[1, :20] == 127).all()  # sigmoid(-0.01) * 255 rounds to 127: just below the threshold
    tie, _ = fuse_and_finish(frames, np.zeros((3, H, W), bool), given, logits, None,
                             PropagateParams.from_any({**plain, "no_evidence_logit": 0.0}))
    assert tie[1, :20].all() and not tie[1, 30:45, 40:55].any()


def test_propagate_tracks_a_moving_disc_better_than_copying():
    frames, gt = textured_disc(21)
    given = every(21, 5)
    sparse = np.where(given[:, None, None], gt, False)
    masks, probs = densify_propagate(frames, sparse, given, {"propagate": {"prior_weight": 0.0, **QUIET}})
    np.testing.assert_array_equal(masks[given], gt[given])
    assert (probs[given] == gt[given] * 255).all()
    ours = iou_per_frame(masks[~given], gt[~given]).mean()
    near = iou_per_frame(densify_nearest(gt, given)[0][~given], gt[~given]).mean()
    assert ours > 0.85 and ours > near + 0.2, (ours, near)  # measured 0.895 vs 0.594


SEGMENTER_FILE = '''
import numpy as np


class FixedMask:
    """Test segmenter: every frame's probability is the mask stored in the weights file."""

    def __init__(self, weights, level=0.9):
        self.mask = np.load(weights)
        self.level = level

    def segment(self, frames, masks, given):
        p = np.where(self.mask, self.level, 1 - self.level).astype(np.float32)
        return np.repeat(p[None], len(frames), axis=0)


class NoSegment:
    def __init__(self, weights):
        pass


class WrongShape(FixedMask):
    def segment(self, frames, masks, given):
        return np.zeros((1, 2, 3), np.float32)
'''


@pytest.fixture()
def user_segmenter(tmp_path):
    """A segmenter module file and its 'weights' (a mask) as a user would supply them."""
    (tmp_path / "my_segmenter.py").write_text(SEGMENTER_FILE)
    mask = np.zeros((H, W), bool)
    mask[5:30, 50:90] = True
    np.save(tmp_path / "weights.npy", mask)
    return tmp_path / "my_segmenter.py", tmp_path / "weights.npy", mask


def test_where_propagation_is_lost_the_plugged_in_segmenter_decides(user_segmenter):
    # frames 1..3 are unrelated noise: no flow is consistent, so with per-pixel confidence the
    # propagated vote fades and the prior (the user's segmenter) decides; with plain flow
    # rules (no confidence) the inconsistent pixels vote background and the prior cannot win
    module, weights, prior_mask = user_segmenter
    frames, gt = textured_disc(5)
    rng = np.random.default_rng(3)
    frames[1:4] = rng.integers(0, 256, frames[1:4].shape, dtype=np.uint8)
    given = np.array([1, 0, 0, 0, 1], bool)
    spec = {"module": f"{module}:FixedMask", "weights": str(weights)}
    cfg = {"propagate": {"prior_weight": 1.0, "refine": "none", "keep_largest": False, "step_decay": 0.5, **QUIET},
           "segmenter": spec}
    masks, _ = densify_propagate(frames, np.where(given[:, None, None], gt, False), given, cfg)
    assert iou_per_frame(masks[2:3], prior_mask[None])[0] > 0.9
    plain = {**cfg, "propagate": {**cfg["propagate"], "confidence": False}}
    masks_plain, _ = densify_propagate(frames, np.where(given[:, None, None], gt, False), given, plain)
    assert iou_per_frame(masks_plain[2:3], prior_mask[None])[0] < 0.5


def test_segmenter_loading_errors_name_the_problem(user_segmenter, tmp_path):
    module, weights, _ = user_segmenter
    with pytest.raises(FileNotFoundError, match="nope.npy is not a file"):
        load_segmenter({"module": f"{module}:FixedMask", "weights": str(tmp_path / "nope.npy")})
    with pytest.raises(TypeError, match="no segment"):
        load_segmenter({"module": f"{module}:NoSegment", "weights": str(weights)})
    with pytest.raises(ValueError, match="has no attribute 'Missing'"):
        load_segmenter({"module": f"{module}:Missing"})
    with pytest.raises(ValueError, match="must be 'package.module:ClassName'"):
        load_segmenter({"module": "just_a_module"})
    with pytest.raises(ValueError, match="unknown keys"):
        load_segmenter({"modul": "x:y"})
    assert isinstance(load_segmenter({"module": None}, {"iterations": 7}), OsvosSegmenter)
    frames, gt = textured_disc(3)
    with pytest.raises(ValueError, match=r"returned probabilities of shape \(1, 2, 3\)"):
        densify_propagate(frames, gt, np.array([1, 0, 1], bool), {"propagate": {"prior_weight": 1.0, **QUIET},
                          "segmenter": {"module": f"{module}:WrongShape", "weights": str(weights)}})
    with pytest.raises(ValueError, match="set prior_weight > 0"):
        densify_propagate(frames, gt, np.array([1, 0, 1], bool),
                          {"propagate": QUIET, "segmenter": {"module": f"{module}:FixedMask", "weights": str(weights)}})


def test_densify_stage_runs_propagate_with_a_user_segmenter(user_segmenter, tmp_path):
    module, weights, prior_mask = user_segmenter
    frames, gt = textured_disc(11)
    given = every(11, 5)
    write_sequence_artifacts(tmp_path, frames, gt, given)
    assert "propagate" in METHODS
    cfg = {"method": "propagate", "propagate": {"prior_weight": 0.5, **QUIET}, "flow": {},
           "segmenter": {"module": f"{module}:FixedMask", "weights": str(weights), "options": {"level": 0.6}},
           "osvos": {"parent": "ignored-when-a-module-is-set.pt"}}
    densify_sequence(tmp_path / "frames.h5", tmp_path / "annotations.h5", tmp_path / "sil.h5", cfg)
    sil = artifacts.read_artifact(tmp_path / "sil.h5", "silhouettes", ["masks", "probabilities"])
    assert sil["attrs"]["method"] == "propagate"
    np.testing.assert_array_equal(sil["masks"][given], gt[given])
    # a weak prior (0.6 vs 0.4) does not override confident propagation of the disc
    assert iou_per_frame(sil["masks"][~given], gt[~given]).mean() > 0.85


def test_cli_propagate_with_a_user_segmenter(user_segmenter, tmp_path):
    module, weights, _ = user_segmenter
    frames, gt = textured_disc(6)
    got = run_densify_cli(tmp_path, frames, gt, [0, 5], "png",  # no --method: the default is propagate
                          ["--segmenter", f"{module}:FixedMask", "--segmenter-weights", str(weights),
                           "--prior-weight", "0.5", "--no-progress"])
    np.testing.assert_array_equal(got[[0, 5]], gt[[0, 5]])
    given = np.array([1, 0, 0, 0, 0, 1], bool)
    want, _ = densify_propagate(frames, np.where(given[:, None, None], gt, False), given,
                                {"propagate": {"prior_weight": 0.5, **QUIET},
                                 "segmenter": {"module": f"{module}:FixedMask", "weights": str(weights)}})
    np.testing.assert_array_equal(got, want)  # the CLI ran propagate with the user's segmenter
    assert iou_per_frame(got[1:5], gt[1:5]).mean() > 0.7


def test_the_workflow_trains_the_osvos_parent_only_when_osvos_runs():
    from smal4v.segment.segmenter import needs_osvos_parent

    assert not needs_osvos_parent({"method": "flow"})
    assert needs_osvos_parent({"method": "osvos+flow"}) and needs_osvos_parent({"method": "osvos"})
    assert not needs_osvos_parent({"method": "propagate", "propagate": {}})  # default: no prior
    assert needs_osvos_parent({"method": "propagate", "propagate": {"prior_weight": "0.5"}})  # --config strings
    assert not needs_osvos_parent({"method": "propagate", "propagate": {"prior_weight": 0.5},
                                   "segmenter": {"module": "pkg.mod:Model", "weights": "w.pt"}})
