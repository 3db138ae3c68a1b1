"""Rotation conversions against scipy, including the hard cases near 0 and pi."""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from smal4v.model.rotations import (
    axis_angle_to_matrix,
    geodesic_angle,
    matrix_to_axis_angle,
    matrix_to_rotation_6d,
    rotation_6d_to_matrix,
)


def random_axis_angles(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    axes = rng.normal(size=(n, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = rng.uniform(0, np.pi, size=(n, 1))
    special = np.array([0.0, 1e-9, 1e-5, 1e-3, np.pi - 1e-3, np.pi - 1e-6, np.pi])[:, None]
    return np.concatenate([axes * angles, axes[: len(special)] * special])


def test_axis_angle_to_matrix_matches_scipy_with_batch_dims():
    aa = random_axis_angles(200)
    R = axis_angle_to_matrix(torch.tensor(aa).reshape(-1, 1, 3))
    assert R.shape == (len(aa), 1, 3, 3)
    np.testing.assert_allclose(R[:, 0].numpy(), Rotation.from_rotvec(aa).as_matrix(), atol=1e-7)


def test_matrix_to_axis_angle_round_trip_near_zero_and_pi():
    aa = random_axis_angles(300, seed=1)
    R = torch.tensor(Rotation.from_rotvec(aa).as_matrix())
    back = matrix_to_axis_angle(R)
    # compare as rotations (at pi, +axis and -axis are the same rotation)
    np.testing.assert_allclose(Rotation.from_rotvec(back.numpy()).as_matrix(), R.numpy(), atol=1e-9)
    angle = np.linalg.norm(aa, axis=1)
    ok = angle < np.pi - 1e-3
    np.testing.assert_allclose(back.numpy()[ok], aa[ok], atol=1e-9)
    assert (back.norm(dim=-1) <= np.pi + 1e-12).all()


def test_matrix_to_axis_angle_float32_and_gradient_finite():
    aa = torch.tensor(random_axis_angles(50, seed=2), dtype=torch.float32)
    R = axis_angle_to_matrix(aa).requires_grad_()
    back = matrix_to_axis_angle(R)
    assert back.dtype == torch.float32
    back.sum().backward()
    assert torch.isfinite(R.grad).all()
    err = geodesic_angle(axis_angle_to_matrix(back.detach()), R.detach())
    assert err.max() < 1e-3


def test_6d_round_trip_and_gram_schmidt():
    R = torch.tensor(Rotation.random(100, random_state=3).as_matrix())
    d6 = matrix_to_rotation_6d(R)
    assert d6.shape == (100, 6)
    torch.testing.assert_close(rotation_6d_to_matrix(d6), R)
    # any non-degenerate 6D vector maps to a proper rotation whose first column is the normalised a1
    x = torch.randn(100, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    M = rotation_6d_to_matrix(x)
    eye = torch.eye(3, dtype=torch.float64).expand(100, 3, 3)
    torch.testing.assert_close(M.transpose(-1, -2) @ M, eye)
    torch.testing.assert_close(torch.linalg.det(M), torch.ones(100, dtype=torch.float64))
    torch.testing.assert_close(M[..., 0], x[:, :3] / x[:, :3].norm(dim=-1, keepdim=True))
    # scaling the inputs changes nothing (continuity / scale invariance of the representation)
    torch.testing.assert_close(rotation_6d_to_matrix(3.0 * x), M)


def test_geodesic_angle_matches_scipy():
    r1 = Rotation.random(100, random_state=4)
    r2 = Rotation.random(100, random_state=5)
    expected = (r1.inv() * r2).magnitude()
    got = geodesic_angle(torch.tensor(r1.as_matrix()), torch.tensor(r2.as_matrix()))
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-9)
    small = Rotation.from_rotvec([[1e-6, 0, 0]])
    got_small = geodesic_angle(torch.eye(3, dtype=torch.float64)[None], torch.tensor(small.as_matrix()))
    np.testing.assert_allclose(got_small.numpy(), [1e-6], rtol=1e-3)
