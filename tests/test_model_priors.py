"""Pose, shape and joint-limit priors against direct numpy formulas."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from smal4v.model.model_data import PosePrior, ShapeFamily
from smal4v.model.priors import JointLimitLoss, PosePriorLoss, ShapePriorLoss


def rank_deficient_family(name: str, n: int = 12, rank: int = 4, seed: int = 0) -> ShapeFamily:
    rng = np.random.default_rng(seed)
    samples = rng.normal(size=(rank + 1, n)) * np.linspace(3, 0.5, n)
    return ShapeFamily(name, samples.mean(0), np.cov(samples.T))


def test_shape_prior_zero_at_mean_and_matches_numpy_marginal_mahalanobis():
    fams = [rank_deficient_family("dog", seed=1), rank_deficient_family("horse", seed=2)]
    assert np.linalg.matrix_rank(fams[1].cov) == 4
    loss = ShapePriorLoss(fams, "horse", eps=1e-3)
    mean = torch.tensor(fams[1].mean)
    for n in (12, 5):
        assert loss(mean[None, :n]).item() == pytest.approx(0.0, abs=1e-12)
        rng = np.random.default_rng(n)
        betas = fams[1].mean[:n] + rng.normal(size=(3, n))
        # marginal of the first n: slice the covariance, then invert
        P = np.linalg.inv(fams[1].cov[:n, :n] + 1e-3 * np.eye(n))
        diff = betas - fams[1].mean[:n]
        d2 = np.einsum("bi,ij,bj->b", diff, P, diff)
        got = loss(torch.tensor(betas)).item()
        assert got > 0
        assert got * n == pytest.approx(d2.mean(), rel=1e-8)
    # the marginal differs from slicing the full precision (the conditional prior, METHOD 8.10)
    P_full = np.linalg.inv(fams[1].cov + 1e-3 * np.eye(12))[:5, :5]
    assert not np.allclose(P_full, np.linalg.inv(fams[1].cov[:5, :5] + 1e-3 * np.eye(5)), rtol=1e-2)


def test_shape_prior_default_eps_float32_and_grad():
    fam = rank_deficient_family("cow", n=41, rank=3, seed=3)
    loss = ShapePriorLoss([fam], 0)
    betas = torch.tensor(fam.mean[:20], dtype=torch.float32)[None].repeat(2, 1)
    betas[1, 0] += 0.1
    betas.requires_grad_()
    val = loss(betas)
    assert val.dtype == torch.float32 and torch.isfinite(val) and val > 0
    val.backward()
    assert torch.isfinite(betas.grad).all() and betas.grad[1].abs().sum() > 0
    with pytest.raises(KeyError, match="unknown shape family 'cat'"):
        ShapePriorLoss([fam], "cat")


def test_pose_prior_ignores_root_and_matches_numpy():
    rng = np.random.default_rng(4)
    J = 6
    A = rng.normal(size=(3 * J, 3 * J))
    cov = A @ A.T + 0.5 * np.eye(3 * J)
    L = np.linalg.cholesky(np.linalg.inv(cov))
    prior = PosePrior(mean=rng.normal(size=3 * J), precision_chol=L, limits=np.zeros((J, 3, 2)))
    loss = PosePriorLoss(prior)
    mean = torch.tensor(prior.mean).reshape(1, J, 3)
    assert loss(mean).item() == pytest.approx(0.0, abs=1e-12)
    moved_root = mean.clone()
    moved_root[0, 0] += torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    assert loss(moved_root).item() == pytest.approx(0.0, abs=1e-10)  # root conditioned out
    theta = prior.mean + rng.normal(size=(2, 3 * J))
    r = (theta - prior.mean) @ L
    r[:, :3] = 0
    got = loss(torch.tensor(theta).reshape(2, J, 3)).item()
    assert got > 0 and got == pytest.approx((r**2).mean(), rel=1e-10)


def test_joint_limit_is_l1_hinge_excluding_root():
    limits = np.stack([-np.ones((4, 3)), np.ones((4, 3))], axis=-1)
    loss = JointLimitLoss(limits)
    pose = torch.zeros(1, 4, 3, dtype=torch.float64)
    assert loss(pose).item() == 0.0
    pose[0, 0, 0] = 5.0  # root: ignored
    pose[0, 2, 1] = 1.5  # 0.5 over
    pose[0, 3, 2] = -3.0  # 2.0 under
    assert loss(pose).item() == pytest.approx((0.5 + 2.0) / 9)
