"""Encoder preprocessing, parameter heads (6D pose, defaults at init), SMALParams helpers."""

import math

import numpy as np
import pytest
import torch

from smal4v.nets.encoder import IMAGENET_MEAN, IMAGENET_STD, ImageEncoder, crops_to_tensor
from smal4v.nets.heads import DEFAULT_ROOT_ROTATION, SMALHeads, view_bin_of
from smal4v.nets.params import SMALParams
from smal4v.model.rotations import axis_angle_to_matrix, matrix_to_axis_angle, project_to_so3, rotation_6d_to_matrix
from smal4v.train.config import NetConfig, OnlineTrainConfig, SingleFrameTrainConfig
from smal4v.train.datasets import Batch
from smal4v.train.single_frame import view_bin_loss


def test_6d_head_outputs_valid_rotations() -> None:
    torch.manual_seed(0)
    heads = SMALHeads(16, num_joints=35, num_betas=5, init_std=1.0)  # large init: far from identity
    p = heads(torch.randn(7, 16) * 3)
    R = axis_angle_to_matrix(p.pose)
    eye = torch.eye(3).expand_as(R)
    assert torch.allclose(R @ R.transpose(-1, -2), eye, atol=1e-5)
    assert torch.allclose(torch.det(R), torch.ones(7, 35), atol=1e-5)
    # the decoded axis-angle reproduces the 6D prediction's matrix (root includes the offset)
    raw = heads.raw(torch.randn(3, 16))
    R6 = rotation_6d_to_matrix(raw["pose6d"])
    R6[:, 0] = heads.root_offset @ R6[:, 0]
    assert torch.allclose(axis_angle_to_matrix(heads.decode(raw).pose), R6, atol=1e-5)


def test_heads_start_at_defaults() -> None:
    torch.manual_seed(0)
    mean = np.arange(5, dtype=np.float32) * 0.1
    heads = SMALHeads(32, 35, 5, True, focal_default=300.0, trans_default=(0.1, -0.2, 4.0), betas_mean=mean)
    p = heads(torch.randn(4, 32))
    assert torch.allclose(p.betas, torch.as_tensor(mean).expand(4, 5), atol=0.02)
    assert torch.allclose(p.focal, torch.full((4,), 300.0), rtol=0.02)
    assert torch.allclose(p.trans, torch.tensor([0.1, -0.2, 4.0]).expand(4, 3), atol=0.05)
    assert torch.allclose(p.pose[:, 0], torch.tensor(DEFAULT_ROOT_ROTATION).expand(4, 3), atol=0.02)
    assert p.pose[:, 1:].abs().max() < 0.02
    assert p.limb_scale is not None and p.limb_scale.abs().max() < 0.02


def test_default_root_is_side_view() -> None:
    R = axis_angle_to_matrix(torch.tensor(DEFAULT_ROOT_ROTATION, dtype=torch.float64))
    # model x forward -> camera +x (right), model z up -> camera -y (up in image),
    # model y (left) -> camera +z (away): the animal's right side faces the camera.
    assert torch.allclose(R @ torch.tensor([1.0, 0, 0], dtype=torch.float64), torch.tensor([1.0, 0, 0], dtype=torch.float64), atol=1e-7)
    assert torch.allclose(R @ torch.tensor([0, 0, 1.0], dtype=torch.float64), torch.tensor([0, -1.0, 0], dtype=torch.float64), atol=1e-7)
    assert torch.allclose(R @ torch.tensor([0, 1.0, 0], dtype=torch.float64), torch.tensor([0, 0, 1.0], dtype=torch.float64), atol=1e-7)


def test_encoder_normalises_inside_consistently() -> None:
    torch.manual_seed(0)
    enc = ImageEncoder("resnet_tiny", None, 24).eval()
    crops = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    x = crops_to_tensor(crops)
    assert x.shape == (3, 3, 32, 32) and 0 <= x.min() and x.max() <= 1
    # the backbone sees exactly ImageNet-normalised input, for uint8 and float inputs alike
    manual = (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    assert torch.allclose(enc.normalise(x), manual, atol=1e-6)
    uint8 = torch.from_numpy(crops).permute(0, 3, 1, 2)
    with torch.no_grad():
        assert torch.allclose(enc(uint8), enc(x), atol=1e-6)
        # frozen feature extraction (online stage) == eval forward (training-time preprocessing)
        assert np.allclose(enc.encode_frames(crops, batch_size=2), enc(x).numpy(), atol=1e-6)
    out = enc.forward_features(x)
    assert out.feature.shape == (3, 24) and [m.shape[1] for m in out.maps] == enc.map_channels


def test_smalparams_helpers() -> None:
    p = SMALParams(torch.zeros(2, 3, 4), torch.zeros(2, 3, 35, 3), torch.zeros(2, 3, 3), torch.ones(2, 3), None)
    f = p.flatten()
    assert f.betas.shape == (6, 4) and f.pose.shape == (6, 35, 3) and f.focal.shape == (6,)
    assert f.unflatten((2, 3)).pose.shape == (2, 3, 35, 3)
    c = SMALParams.cat([f, f])
    assert c.focal.shape == (12,)
    d = SMALParams.from_numpy(c.to_numpy())
    assert torch.equal(d.pose, c.pose) and d.limb_scale is None


def test_project_to_so3_recovers_rotation() -> None:
    torch.manual_seed(1)
    R = axis_angle_to_matrix(torch.randn(5, 3, dtype=torch.float64))
    noisy = R + 1e-3 * torch.randn(5, 3, 3, dtype=torch.float64)
    P = project_to_so3(noisy)
    assert torch.allclose(P @ P.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand(5, 3, 3), atol=1e-10)
    assert (P - R).abs().max() < 3e-3


def test_config_defaults_and_unknown_keys() -> None:
    cfg = SingleFrameTrainConfig.from_dict({"epochs": 3, "loss": {"silhouette_loss": "tversky"}, "weights": {"pose": 2.0}})
    assert cfg.epochs == 3 and cfg.loss.silhouette_loss == "tversky" and cfg.loss.mask_size == 64
    assert cfg.weights["pose"] == 2.0 and cfg.weights["keypoints"] == 10.0
    with pytest.raises(ValueError, match="epochz"):
        SingleFrameTrainConfig.from_dict({"epochz": 1})
    with pytest.raises(ValueError, match="kepoints"):
        OnlineTrainConfig.from_dict({"weights": {"kepoints": 1.0}})
    with pytest.raises(ValueError, match=r"net\.loss|unknown keys"):
        NetConfig.from_dict({"loss": 1}, "net")
    assert OnlineTrainConfig.from_dict(OnlineTrainConfig().to_dict()) == OnlineTrainConfig()


def _turn_about_camera_y(phi: float) -> torch.Tensor:
    """Rotation by ``phi`` about the camera's vertical axis, written out independently."""
    c, s = math.cos(phi), math.sin(phi)
    return torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def test_view_bins_classify_which_way_the_animal_faces() -> None:
    """The bin of root = R_y(phi) @ R_default @ (a small tilt) is phi's nearest bin centre."""
    heads = SMALHeads(8, view_bins=8)
    tilt = axis_angle_to_matrix(torch.tensor([0.15, -0.3, 0.0]))  # roll and pitch: the facing direction stays
    for phi_deg, expected in ((0, 0), (40, 1), (50, 1), (95, 2), (180, 4), (-44, 7), (300, 7), (337, 0)):
        root = _turn_about_camera_y(math.radians(phi_deg)) @ heads.root_offset @ tilt
        assert int(view_bin_of(root, 8)) == expected, phi_deg


def test_view_bin_decoding_uses_the_given_bin_else_the_argmax() -> None:
    torch.manual_seed(0)
    heads = SMALHeads(16, num_joints=35, num_betas=5, view_bins=4, init_std=0.5)
    raw = heads.raw(torch.randn(6, 16))
    residual = rotation_6d_to_matrix(raw["pose6d"])[:, 0]
    argmax = raw["view_logits"].argmax(-1)
    expected = torch.stack([_turn_about_camera_y(math.pi / 2 * int(k)) for k in argmax]) @ heads.root_offset @ residual
    assert torch.allclose(axis_angle_to_matrix(heads.decode(raw).pose[:, 0]), expected, atol=1e-5)
    forced = torch.tensor([0, 1, 2, 3, 2, 1])
    expected = torch.stack([_turn_about_camera_y(math.pi / 2 * int(k)) for k in forced]) @ heads.root_offset @ residual
    assert torch.allclose(axis_angle_to_matrix(heads.decode({**raw, "view_bin": forced}).pose[:, 0]), expected, atol=1e-5)


def test_view_bin_loss_teacher_forces_rows_with_truth_only() -> None:
    torch.manual_seed(0)
    heads = SMALHeads(16, num_joints=35, num_betas=5, view_bins=8, init_std=0.5)
    raw = heads.raw(torch.randn(3, 16))
    bins = torch.tensor([3, 6, 1])
    pose = torch.zeros(3, 35, 3)
    pose[:, 0] = matrix_to_axis_angle(torch.stack([_turn_about_camera_y(math.pi / 4 * int(k)) for k in bins]) @ heads.root_offset)
    batch = Batch(torch.zeros(3, 3, 8, 8), None, None, None, {"pose": pose}, torch.tensor([1.0, 1.0, 0.0]))
    loss = view_bin_loss(heads, raw, batch)
    log_p = torch.log_softmax(raw["view_logits"], -1)
    assert torch.isclose(loss, -(log_p[0, 3] + log_p[1, 6]) / 2, atol=1e-6)
    assert raw["view_bin"].tolist()[:2] == [3, 6] and int(raw["view_bin"][2]) == int(raw["view_logits"][2].argmax())


def test_encoder_input_size_resizes_by_area_averaging() -> None:
    enc = ImageEncoder("resnet_tiny", None, 24, input_size=16).eval()
    x = torch.rand(2, 3, 32, 32)
    pooled = x.reshape(2, 3, 16, 2, 16, 2).mean((3, 5))
    manual = (pooled - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    assert torch.allclose(enc.normalise(x), manual, atol=1e-6)
