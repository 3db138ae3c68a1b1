"""Pose, shape and joint-limit priors as torch losses (METHOD.md 1.2, 1.5, 4, 8.10).

All three are built from :class:`ModelData` fields (``pose_prior``, ``shape_families``,
``pose_prior.limits``) and return a scalar; weights are applied by the caller. Statistics are
kept in float64 buffers and cast to the input's dtype, so float64 checks are exact.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from smal4v.model.model_data import PosePrior, ShapeFamily

__all__ = ["PosePriorLoss", "ShapePriorLoss", "JointLimitLoss", "shape_precision_chol"]


class PosePriorLoss(nn.Module):
    """Gaussian pose prior with the root conditioned out (METHOD.md 1.5).

    r = (theta - mean) @ L with L lower-triangular (L L^T = precision); the first 3 columns of r
    (root) are zeroed, which, L being lower-triangular, removes every contribution of the global
    rotation; the loss is mean(r^2) over batch x J*3 entries (C2F convention).
    """

    def __init__(self, pose_prior: PosePrior) -> None:
        super().__init__()
        mean = np.asarray(pose_prior.mean, dtype=np.float64).reshape(-1)
        L = np.asarray(pose_prior.precision_chol, dtype=np.float64)
        if L.shape != (mean.size, mean.size):
            raise ValueError(f"pose prior: precision_chol {L.shape} does not match mean ({mean.size},)")
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float64))
        self.register_buffer("precision_chol", torch.as_tensor(L, dtype=torch.float64))
        keep = torch.ones(mean.size)
        keep[:3] = 0.0
        self.register_buffer("keep", keep)

    def forward(self, pose: torch.Tensor) -> torch.Tensor:
        """pose (B, J, 3) or (B, J*3) axis-angle -> scalar."""
        theta = pose.reshape(pose.shape[0], -1)
        dtype = theta.dtype
        r = (theta - self.mean.to(dtype)) @ self.precision_chol.to(dtype)
        r = r * self.keep.to(dtype)
        return (r * r).mean()


def shape_precision_chol(cov: np.ndarray, n: int, eps: float = 1e-5) -> np.ndarray:
    """Lower-triangular L with L L^T = inv(cov[:n, :n] + eps I): the *marginal* prior of the first n.

    Slicing the covariance (not the 41-d precision or its Cholesky factor, which would give the
    prior *conditioned* on the remaining betas being at their mean, METHOD.md 8.10) is the correct
    marginal. ``eps`` regularises rank-deficient family covariances (SMAL's have ranks 20/4/7/3/2
    out of 41): null directions get precision ~1/eps, pinning betas to the span of the family.
    """
    cov_n = np.asarray(cov, dtype=np.float64)[:n, :n]
    reg = cov_n + eps * np.eye(n)
    C = np.linalg.cholesky(reg)  # reg = C C^T, so inv(reg) = C^-T C^-1
    C_inv = np.linalg.solve(C, np.eye(n))
    precision = C_inv.T @ C_inv
    precision = 0.5 * (precision + precision.T)
    return np.linalg.cholesky(precision)


class ShapePriorLoss(nn.Module):
    """Mahalanobis shape prior of one family, inv(cov + eps I) (METHOD.md 1.2, 4).

    Works on the first n betas for any n <= num_betas, using the marginal prior of those n
    components (cached per n). The loss is mean over batch x n of ((beta - mean) @ L)^2, i.e. the
    squared Mahalanobis distance divided by n and averaged over the batch (C2F convention).
    ``eps`` = 1e-5 by default as in all reference code; see :func:`shape_precision_chol`.
    """

    def __init__(self, families: list[ShapeFamily], family: str | int, eps: float = 1e-5) -> None:
        super().__init__()
        if isinstance(family, int):
            if not 0 <= family < len(families):
                raise IndexError(f"shape family index {family} out of range (have {len(families)})")
            fam = families[family]
        else:
            by_name = {f.name: f for f in families}
            if family not in by_name:
                raise KeyError(f"unknown shape family {family!r}; known: {', '.join(by_name) or 'none'}")
            fam = by_name[family]
        self.family = fam.name
        self.eps = eps
        self._cov = np.asarray(fam.cov, dtype=np.float64)
        self.register_buffer("mean", torch.as_tensor(np.asarray(fam.mean, dtype=np.float64), dtype=torch.float64))
        self._chol: dict[tuple, torch.Tensor] = {}

    def precision_chol(self, n: int, like: torch.Tensor) -> torch.Tensor:
        """Cached (n, n) Cholesky factor of the marginal precision, on ``like``'s device/dtype."""
        key = (n, like.device, like.dtype)
        if key not in self._chol:
            L = torch.as_tensor(shape_precision_chol(self._cov, n, self.eps))
            self._chol[key] = L.to(device=like.device, dtype=like.dtype)
        return self._chol[key]

    def forward(self, betas: torch.Tensor) -> torch.Tensor:
        """betas (B, n) -> scalar."""
        n = betas.shape[-1]
        if n > self.mean.numel():
            raise ValueError(f"got {n} betas, family {self.family!r} has {self.mean.numel()}")
        r = (betas - self.mean[:n].to(betas.dtype)) @ self.precision_chol(n, betas)
        return (r * r).mean()


class JointLimitLoss(nn.Module):
    """L1 hinge on per-joint, per-axis axis-angle limits (C2F stage 3, METHOD.md 4).

    mean over batch x joints x 3 of max(theta - max, 0) + max(min - theta, 0), over ``joint_ids``
    (default: every joint but the root, whose rotation is the global orientation).
    """

    def __init__(self, limits: np.ndarray, joint_ids: list[int] | None = None) -> None:
        super().__init__()
        limits = np.asarray(limits, dtype=np.float64)
        if limits.ndim != 3 or limits.shape[1:] != (3, 2):
            raise ValueError(f"joint limits must have shape (J, 3, 2), got {limits.shape}")
        if joint_ids is None:
            joint_ids = list(range(1, limits.shape[0]))
        self.register_buffer("joint_ids", torch.as_tensor(joint_ids, dtype=torch.long))
        self.register_buffer("lower", torch.as_tensor(limits[..., 0], dtype=torch.float64))
        self.register_buffer("upper", torch.as_tensor(limits[..., 1], dtype=torch.float64))

    def forward(self, pose: torch.Tensor) -> torch.Tensor:
        """pose (B, J, 3) axis-angle -> scalar."""
        theta = pose.reshape(pose.shape[0], -1, 3)[:, self.joint_ids]
        lo = self.lower[self.joint_ids].to(theta.dtype)
        hi = self.upper[self.joint_ids].to(theta.dtype)
        return (torch.relu(theta - hi) + torch.relu(lo - theta)).mean()
