"""Loss terms against hand computations."""

import math

import pytest
import torch

from smal4v.nets.params import SMALParams
from smal4v.train.losses import (
    finite_difference,
    keypoint_loss,
    parameter_losses,
    silhouette_loss,
    temporal_losses,
    vertex_loss,
    weighted_total,
)


def test_keypoint_loss_visible_only() -> None:
    pred = torch.tensor([[[10.0, 10.0], [0.0, 0.0], [50.0, 50.0]]])
    tgt = torch.tensor([[[12.0, 7.0, 1.0], [100.0, 100.0, 0.0], [50.0, 54.0, 1.0]]])
    # L1: (2 + 3) / 100 and 4 / 100 over 2 visible points
    assert torch.isclose(keypoint_loss(pred, tgt, 100.0, "l1"), torch.tensor((0.05 + 0.04) / 2))
    assert torch.isclose(keypoint_loss(pred, tgt, 100.0, "mse"), torch.tensor((0.0013 + 0.0016) / 2))
    none = tgt.clone()
    none[..., 2] = 0
    assert keypoint_loss(pred, none, 100.0) == 0
    with pytest.raises(ValueError):
        keypoint_loss(pred, tgt, 100.0, "huber")


def test_silhouette_losses() -> None:
    pred = torch.zeros(2, 4, 4)
    pred[0, :2] = 1.0  # 8 px predicted
    tgt = torch.zeros(2, 4, 4)
    tgt[0, :, :2] = 1.0  # 8 px target, overlap 4
    tgt[1] = 1.0
    l1 = silhouette_loss(pred, tgt, torch.tensor([1.0, 0.0]), "l1")
    assert torch.isclose(l1, torch.tensor(8 / 16))
    tp, fp, fn = 4.0, 4.0, 4.0
    expected = 1 - (tp + 1e-5) / (tp + 0.6 * fp + 0.4 * fn + 1e-5)
    assert torch.isclose(silhouette_loss(pred, tgt, torch.tensor([1.0, 0.0]), "tversky"), torch.tensor(expected))
    both = silhouette_loss(pred, tgt, None, "l1")
    assert torch.isclose(both, torch.tensor((0.5 + 1.0) / 2))


def test_parameter_and_vertex_losses() -> None:
    pose = torch.zeros(1, 35, 3)
    gt_pose = pose.clone()
    gt_pose[0, 5] = torch.tensor([0.0, 0.3, 0.0])
    p = SMALParams(torch.zeros(1, 4), pose, torch.zeros(1, 3), torch.tensor([100.0]))
    g = SMALParams(torch.ones(1, 6), gt_pose, torch.tensor([[0.0, 0.0, 3.0]]), torch.tensor([200.0]))
    out = parameter_losses(p, g)
    assert torch.isclose(out["betas"], torch.tensor(1.0))
    assert torch.isclose(out["pose"], torch.tensor(0.3 / 35), atol=1e-6)
    # chordal: |R(a) - I|_F^2 = 8 sin^2(a / 2) for a turn by a; only joint 5 differs
    assert torch.isclose(out["pose_matrix"], torch.tensor(8 * math.sin(0.15) ** 2 / 35), atol=1e-6)
    assert out["root_matrix"] == 0 and out["root_pose"] < 1e-9
    assert torch.isclose(out["trans"], torch.tensor(3.0))
    assert torch.isclose(out["focal"], torch.tensor(math.log(2) ** 2))
    v = torch.zeros(1, 2, 3)
    assert torch.isclose(vertex_loss(v, v + torch.tensor([3.0, 4.0, 0.0])), torch.tensor(5.0))


def test_temporal_terms() -> None:
    x = torch.tensor([[0.0, 1.0, 4.0, 9.0]])
    assert torch.equal(finite_difference(x, 1), torch.tensor([[1.0, 3.0, 5.0]]))
    assert torch.equal(finite_difference(x, 2), torch.tensor([[2.0, 2.0]]))
    T = 5
    t = torch.arange(T, dtype=torch.float32)
    # constant velocity: zero acceleration in translation, log focal and keypoints
    params = SMALParams(
        torch.zeros(1, T, 2), torch.zeros(1, T, 35, 3), torch.stack([t, 0 * t, 3 + 0 * t], -1)[None],
        torch.exp(0.1 * t)[None], None,
    )
    kp = torch.stack([t * 2, t], -1)[None, :, None, :]  # (1, T, 1, 2)
    out = temporal_losses(params, kp, 64.0, order=2)
    assert all(v.abs() < 1e-5 for v in out.values())
    out1 = temporal_losses(params, kp, 64.0, order=1)
    assert torch.isclose(out1["temporal_keypoints"], torch.tensor(3 / 64))
    assert torch.isclose(out1["temporal_camera"], torch.tensor(1.0 + 0.01))
    # pose: yaw step of a per frame -> ||R(a) - I||_F^2 = 4 (1 - cos a) per joint, one joint moving
    pose = torch.zeros(1, T, 35, 3)
    pose[0, :, 3, 2] = 0.2 * t
    params.pose = pose
    tp = temporal_losses(params, None, 64.0, order=1)["temporal_pose"]
    assert torch.isclose(tp, torch.tensor(4 * (1 - math.cos(0.2)) / 35), atol=1e-6)


def test_weighted_total() -> None:
    total, logged = weighted_total({"keypoints": torch.tensor(2.0), "pose": torch.tensor(5.0)}, {"keypoints": 3.0})
    assert total.item() == 6.0 and logged == {"keypoints": 6.0, "total": 6.0}
    with pytest.raises(ValueError, match="weight 0"):
        weighted_total({"pose": torch.tensor(1.0)}, {})
