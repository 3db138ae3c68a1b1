"""Temporal / online-single networks: residual init, per-sequence shape, windows and merging."""

import math

import pytest
import torch

from smal4v.nets.encoder import ImageEncoder
from smal4v.nets.heads import SMALHeads
from smal4v.nets.params import SMALParams
from smal4v.model.rotations import axis_angle_to_matrix
from smal4v.nets.single_frame import SingleFrameNet
from smal4v.nets.temporal import (
    OnlineSingleNet,
    TemporalNet,
    build_online_net,
    merge_window_values,
    merge_windows,
    predict_sequence,
    window_starts,
)
from smal4v.train.config import OnlineTrainConfig


def _parent(d: int = 12) -> SingleFrameNet:
    torch.manual_seed(0)
    heads = SMALHeads(d, 35, 6, use_limb_scale=True, focal_default=200.0, trans_default=(0, 0, 3.0), init_std=0.1)
    return SingleFrameNet(ImageEncoder("resnet_tiny", None, d), heads)


@pytest.mark.parametrize("cls", [TemporalNet, OnlineSingleNet])
def test_from_parent_reproduces_parent_per_frame(cls) -> None:
    parent = _parent()
    feats = torch.randn(10, 12)
    cfg = OnlineTrainConfig(gru_hidden=8, bidirectional=True)
    net = cls.from_parent(parent, cfg, feats)
    out = net(feats[None])  # (1, 10)
    ref = parent.heads(feats)
    assert torch.allclose(out.pose[0], ref.pose, atol=1e-6)
    assert torch.allclose(out.trans[0], ref.trans, atol=1e-6)
    assert torch.allclose(out.focal[0], ref.focal, atol=1e-4)
    # one shape per sequence: the mean of the parent's per-frame betas over ALL frames
    assert torch.allclose(out.betas[0], ref.betas.mean(0).expand(10, 6), atol=1e-6)
    assert torch.allclose(out.limb_scale[0], ref.limb_scale.mean(0).expand(10, 6), atol=1e-6)
    # heads are copies: training the online net must not change the parent
    assert net.heads is not parent.heads
    with torch.no_grad():
        net.heads.pose.bias.add_(1.0)
    assert not torch.allclose(net.heads.pose.bias, parent.heads.pose.bias)


@pytest.mark.parametrize("temporal", [True, False])
def test_fixed_focal_is_the_parents_mean_on_every_frame_and_is_not_trained(temporal: bool) -> None:
    parent = _parent()
    feats = torch.randn(10, 12)
    net = build_online_net(parent, OnlineTrainConfig(temporal=temporal, gru_hidden=8, fixed_focal=True), feats)
    per_frame = parent.heads(feats).focal  # the parent's focal varies from frame to frame
    assert per_frame.std() > 1.0
    with torch.no_grad():
        expected = 200.0 * math.exp(float(parent.heads.raw(feats)["focal"].mean()))  # geometric mean
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(3):  # a loss that would pull the focal down (and the animal to a point)
        out = net(feats[None, :6])
        opt.zero_grad()
        (out.focal.sum() + out.trans.sum()).backward()
        opt.step()
    assert torch.allclose(net(feats[None]).focal, torch.full((1, 10), expected), rtol=1e-5)
    assert not torch.allclose(net(feats[None]).trans[0], parent.heads(feats).trans, atol=1e-3)  # depth still learns
    again = build_online_net(parent, OnlineTrainConfig(temporal=temporal, gru_hidden=8, fixed_focal=True), feats[:2])
    again.load_state_dict(net.state_dict())  # the focal travels with the checkpoint
    assert torch.allclose(again(feats[None]).focal, net(feats[None]).focal)


def test_temporal_correction_trains_and_uses_context() -> None:
    parent = _parent()
    feats = torch.randn(1, 6, 12)
    net = TemporalNet.from_parent(parent, {"gru_hidden": 8, "bidirectional": False}, feats[0])
    out = net(feats)
    loss = out.trans[..., 0].sum()
    loss.backward()
    assert net.out.weight.grad is not None and net.out.weight.grad.abs().sum() > 0
    with torch.no_grad():
        net.out.weight.normal_()
    # unidirectional GRU (SMAL4V's): changing the last frame leaves earlier frames' predictions unchanged
    f2 = feats.clone()
    f2[0, -1] += 1.0
    a, b = net(feats), net(f2)
    assert torch.allclose(a.trans[0, :-1], b.trans[0, :-1], atol=1e-6)
    assert not torch.allclose(a.trans[0, -1], b.trans[0, -1], atol=1e-4)


def test_window_starts_cover_the_end() -> None:
    assert window_starts(20, 8, 2) == [0, 2, 4, 6, 8, 10, 12]
    assert window_starts(21, 8, 2) == [0, 2, 4, 6, 8, 10, 12, 13]
    assert window_starts(5, 8, 2) == [0]
    assert window_starts(8, 8, 3) == [0]
    assert window_starts(10, 4, 4) == [0, 4, 6]
    with pytest.raises(ValueError):
        window_starts(0, 8, 2)


def test_merge_window_values_hand_examples() -> None:
    # windows of 4 at starts 0, 2, 3 over 7 frames with constant values 1, 2, 4
    vals = [torch.full((4, 1), 1.0), torch.full((4, 1), 2.0), torch.full((4, 1), 4.0)]
    starts = window_starts(7, 4, 2)
    assert starts == [0, 2, 3]
    mean = merge_window_values(vals, starts, 7, "mean")[:, 0]
    assert torch.allclose(mean, torch.tensor([1, 1, 1.5, 7 / 3, 3, 3, 4]))
    # central: frame distance to window centre (s + 1.5); ties go to the earlier window
    central = merge_window_values(vals, starts, 7, "central")[:, 0]
    assert torch.allclose(central, torch.tensor([1, 1, 1, 2, 2, 4, 4.0]))
    with pytest.raises(ValueError, match="covered by no window"):
        merge_window_values(vals[:1], [0], 7)
    with pytest.raises(ValueError, match="unknown merge"):
        merge_window_values(vals, starts, 7, "median")
    with pytest.raises(ValueError, match="covered by no window"):
        merge_window_values(vals[:1], [0], 7, "taper")


def test_taper_merge_weights_window_edges_least() -> None:
    # the same windows as above; Hann weights of a window of 4: sin^2(pi/8), sin^2(3pi/8), ...
    vals = [torch.full((4, 1), 1.0), torch.full((4, 1), 2.0), torch.full((4, 1), 4.0)]
    edge, middle = math.sin(math.pi / 8) ** 2, math.sin(3 * math.pi / 8) ** 2
    w = [edge, middle, middle, edge]
    expected = [1.0, 1.0, (1 * w[2] + 2 * w[0]) / (w[2] + w[0]),
                (1 * w[3] + 2 * w[1] + 4 * w[0]) / (w[3] + w[1] + w[0]),
                (2 * w[2] + 4 * w[1]) / (w[2] + w[1]), (2 * w[3] + 4 * w[2]) / (w[3] + w[2]), 4.0]
    taper = merge_window_values(vals, [0, 2, 3], 7, "taper")[:, 0]
    assert torch.allclose(taper, torch.tensor(expected), atol=1e-6)


def test_taper_merge_keeps_agreeing_windows_and_smooths_disagreeing_ones() -> None:
    """Windows that agree give back the per-frame values; windows that each add their own
    constant error (a GRU's cold start) give a merge with smaller second differences than the
    plain mean, whose value steps where a window enters or leaves."""
    n, length, stride = 60, 16, 4
    starts = window_starts(n, length, stride)
    truth = torch.sin(torch.arange(n, dtype=torch.float32) / 5.0)[:, None]
    agreeing = [truth[s : s + length] for s in starts]
    assert torch.allclose(merge_window_values(agreeing, starts, n, "taper"), truth, atol=1e-6)
    gen = torch.Generator().manual_seed(0)
    noisy = [truth[s : s + length] + 0.1 * torch.randn(1, 1, generator=gen) for s in starts]

    def roughness(error: torch.Tensor) -> float:
        return float((error[2:] - 2 * error[1:-1] + error[:-2]).abs().mean())

    mean, taper = (merge_window_values(noisy, starts, n, m) - truth for m in ("mean", "taper"))
    assert roughness(taper) < 0.3 * roughness(mean)  # measured 0.23x


def test_merge_windows_averages_rotations_on_so3() -> None:
    # two windows disagree on the root yaw: 0.2 and 0.6 rad about z -> overlap gets 0.4
    def win(angle: float, n: int) -> SMALParams:
        pose = torch.zeros(n, 35, 3)
        pose[:, 0, 2] = angle
        return SMALParams(torch.zeros(n, 2), pose, torch.full((n, 3), angle), torch.full((n,), 100.0), None)

    merged = merge_windows([win(0.2, 3), win(0.6, 3)], [0, 2], 5)
    assert torch.allclose(merged.pose[:, 0, 2], torch.tensor([0.2, 0.2, 0.4, 0.6, 0.6]), atol=1e-5)
    R = axis_angle_to_matrix(merged.pose)
    assert torch.allclose(torch.det(R), torch.ones(5, 35), atol=1e-5)
    assert torch.allclose(merged.trans[:, 0], torch.tensor([0.2, 0.2, 0.4, 0.6, 0.6]))
    assert merged.limb_scale is None


def test_predict_sequence_matches_parent_at_init() -> None:
    parent = _parent()
    feats = torch.randn(11, 12)
    net = TemporalNet.from_parent(parent, {"gru_hidden": 8}, feats).eval()
    pred = predict_sequence(net, feats, window=4, stride=3)
    assert pred.pose.shape == (11, 35, 3)
    assert torch.allclose(pred.trans, parent.heads(feats).trans, atol=1e-5)
    assert torch.allclose(axis_angle_to_matrix(pred.pose), axis_angle_to_matrix(parent.heads(feats).pose), atol=1e-4)
