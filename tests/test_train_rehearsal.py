"""Rehearsal for the parent: mixing frames without 3D truth with the generic set that has it."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from smal4v.model import load_keypoint_set, load_model
from smal4v.nets.params import SMALParams
from smal4v.train.config import SingleFrameTrainConfig
from smal4v.train.datasets import FrameDataset, rehearsal_mix
from smal4v.train.losses import parameter_losses
from smal4v.train.scene import Priors, Scene
from smal4v.train.single_frame import batch_losses

S, K, J = 32, 20, 35


def _dataset(n: int, with_gt: bool, seed: int, name: str) -> FrameDataset:
    rng = np.random.default_rng(seed)
    gt = None
    if with_gt:
        gt = {"betas": rng.normal(size=(n, 20)), "pose": rng.normal(scale=0.2, size=(n, J, 3)),
              "trans": rng.normal(size=(n, 3)) + [0, 0, 4], "focal": rng.uniform(50, 80, n)}
    return FrameDataset(rng.integers(0, 255, (n, S, S, 3), dtype=np.uint8), rng.uniform(0, S, (n, K, 3)),
                        rng.uniform(0, 1, (n, S, S)) > 0.5, gt=gt, name=name)


def test_concat_keeps_rows_in_order_and_marks_missing_truth() -> None:
    target, generic = _dataset(3, False, 0, "target"), _dataset(5, True, 1, "generic")
    both = FrameDataset.concat([target, generic])
    assert len(both) == 8
    np.testing.assert_array_equal(both.images[:3], target.images)
    np.testing.assert_array_equal(both.images[3:], generic.images)
    np.testing.assert_array_equal(both.keypoints[3:], generic.keypoints)
    np.testing.assert_array_equal(both.gt_valid, [0, 0, 0, 1, 1, 1, 1, 1])
    np.testing.assert_allclose(both.gt["focal"][:3], 1.0)  # finite placeholder: log(focal) stays defined
    np.testing.assert_allclose(both.gt["pose"][3:], generic.gt["pose"], rtol=1e-6)
    batch = both.batch([0, 4])
    assert batch.gt_valid.tolist() == [0.0, 1.0]


def test_concat_gives_zero_offsets_to_truth_without_them() -> None:
    """``delta_v`` is kept when one part with truth has it: a part whose truth has none gets zeros
    (its animal has no off-model offsets), rows without truth get zeros marked invalid."""
    target, plain, off = _dataset(2, False, 0, "target"), _dataset(3, True, 1, "plain"), _dataset(2, True, 2, "off")
    off.gt["delta_v"] = np.random.default_rng(3).normal(size=(2, 7, 3))
    both = FrameDataset.concat([target, plain, off])
    assert both.gt["delta_v"].shape == (7, 7, 3) and sorted(both.gt) == ["betas", "delta_v", "focal", "pose", "trans"]
    np.testing.assert_array_equal(both.gt["delta_v"][:5], 0.0)
    np.testing.assert_allclose(both.gt["delta_v"][5:], off.gt["delta_v"], rtol=1e-6)
    np.testing.assert_array_equal(both.gt_valid, [0, 0, 1, 1, 1, 1, 1])


def test_concat_rejects_mixed_crop_sizes() -> None:
    small = FrameDataset(np.zeros((2, 16, 16, 3), np.uint8), name="small")
    with pytest.raises(ValueError, match="different sizes"):
        FrameDataset.concat([small, _dataset(2, True, 0, "generic")])


@pytest.mark.parametrize("share,n_target,n_generic,expected_repeat", [(0.67, 8, 384, 24), (0.5, 10, 30, 3), (0.9, 50, 10, 1)])
def test_rehearsal_share(share: float, n_target: int, n_generic: int, expected_repeat: int) -> None:
    mix = rehearsal_mix(_dataset(n_target, False, 0, "t"), _dataset(n_generic, True, 1, "g"), share)
    assert len(mix) == expected_repeat * n_target + n_generic
    assert int(mix.gt_valid.sum()) == n_generic
    if expected_repeat > 1:
        assert abs(mix.gt_valid.mean() - share) < 0.05


def test_rehearsal_share_out_of_range() -> None:
    with pytest.raises(ValueError, match="share"):
        rehearsal_mix(_dataset(2, False, 0, "t"), _dataset(2, True, 1, "g"), 1.0)


def test_3d_losses_ignore_rows_without_truth() -> None:
    """The batch loss of a mixed batch equals the loss computed on the rows with truth alone
    for every 3D term (independent computation with parameter_losses on the valid rows)."""
    model, kps = load_model("procedural"), load_keypoint_set("badja20")
    mixed = FrameDataset.concat([_dataset(2, False, 0, "t"), _dataset(3, True, 1, "g")])
    batch = mixed.batch(np.arange(5))
    torch.manual_seed(0)
    pred = SMALParams(torch.randn(5, 20), torch.randn(5, J, 3) * 0.1, torch.randn(5, 3) + torch.tensor([0, 0, 4.0]),
                      torch.full((5,), 60.0))

    class Fixed(torch.nn.Module):
        heads = SimpleNamespace(view_bins=0)  # plain 6D root: no view-bin classification
        keypoint_head = None

        def forward(self, images: torch.Tensor) -> SMALParams:
            return pred

    weights = {"betas": 1.0, "pose": 1.0, "trans": 1.0, "focal": 1.0}
    cfg = SingleFrameTrainConfig.from_dict({"weights": {"keypoints": 0, "silhouette": 0, "pose_prior": 0,
                                                        "shape_prior": 0, **weights}})
    _, logged = batch_losses(Fixed(), Scene(model, kps, S, 16, 0.2), Priors(model, None), batch, cfg)
    gt = batch.gt
    valid_only = parameter_losses(SMALParams(pred.betas[2:], pred.pose[2:], pred.trans[2:], pred.focal[2:]),
                                  SMALParams(gt["betas"][2:], gt["pose"][2:], gt["trans"][2:], gt["focal"][2:]))
    for name in weights:
        assert logged[name] == pytest.approx(float(valid_only[name]), rel=1e-5)
