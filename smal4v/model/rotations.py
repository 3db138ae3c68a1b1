"""Batched, device-agnostic rotation conversions used by the body model and the networks.

All functions take arbitrary leading batch dimensions and keep the input dtype and device.
Conventions: rotation matrices act on column vectors (``x' = R @ x``); axis-angle is a
3-vector whose direction is the axis and whose norm is the angle in radians.
"""

from __future__ import annotations

import torch

__all__ = [
    "axis_angle_to_matrix",
    "matrix_to_axis_angle",
    "rotation_6d_to_matrix",
    "matrix_to_rotation_6d",
    "geodesic_angle",
    "skew",
]


def skew(v: torch.Tensor) -> torch.Tensor:
    """Cross-product matrix ``[v]x`` of (..., 3) vectors, shape (..., 3, 3)."""
    x, y, z = v.unbind(-1)
    o = torch.zeros_like(x)
    return torch.stack([o, -z, y, z, o, -x, -y, x, o], dim=-1).reshape(v.shape[:-1] + (3, 3))


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula as SMAL computes it: angle = ||theta + 1e-8||, (..., 3) -> (..., 3, 3).

    The 1e-8 offset keeps the axis (theta / angle) finite at theta = 0, where the result is the
    identity, and gradients stay finite there.
    """
    angle = torch.linalg.vector_norm(axis_angle + 1e-8, dim=-1, keepdim=True)
    axis = axis_angle / angle
    cos = torch.cos(angle)[..., None]
    sin = torch.sin(angle)[..., None]
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    outer = axis[..., :, None] * axis[..., None, :]
    return cos * eye + (1.0 - cos) * outer + sin * skew(axis)


def _matrix_to_quaternion(R: torch.Tensor) -> torch.Tensor:
    """Unit quaternion (w, x, y, z) with w >= 0 from rotation matrices (Shepperd's method).

    Of the four algebraically equivalent formulas the one with the largest denominator is used,
    so the result is accurate for every rotation, including angles near 0 and near pi.
    """
    m = R.reshape(R.shape[:-2] + (9,))
    m00, m01, m02, m10, m11, m12, m20, m21, m22 = m.unbind(-1)
    diag = torch.stack(
        [1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], dim=-1
    )  # 4 * q_i^2
    # Row i is 4 * q_i * (w, x, y, z).
    candidates = torch.stack(
        [
            torch.stack([diag[..., 0], m21 - m12, m02 - m20, m10 - m01], dim=-1),
            torch.stack([m21 - m12, diag[..., 1], m01 + m10, m02 + m20], dim=-1),
            torch.stack([m02 - m20, m01 + m10, diag[..., 2], m12 + m21], dim=-1),
            torch.stack([m10 - m01, m02 + m20, m12 + m21, diag[..., 3]], dim=-1),
        ],
        dim=-2,
    )
    best = diag.argmax(dim=-1, keepdim=True)
    chosen = torch.gather(candidates, -2, best[..., None].expand(best.shape[:-1] + (1, 4))).squeeze(-2)
    denom = 2.0 * torch.sqrt(torch.gather(diag, -1, best).clamp_min(1e-12))
    q = chosen / denom
    q = torch.where(q[..., :1] < 0, -q, q)
    return q / torch.linalg.vector_norm(q, dim=-1, keepdim=True)


def matrix_to_axis_angle(R: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`axis_angle_to_matrix`, (..., 3, 3) -> (..., 3), angle in [0, pi].

    Goes through a quaternion, so it is robust near 0 (no division by sin(angle)) and near pi
    (the axis comes from the diagonal, not from the vanishing skew part).
    """
    q = _matrix_to_quaternion(R)
    w, v = q[..., :1], q[..., 1:]
    s = torch.linalg.vector_norm(v, dim=-1, keepdim=True)
    angle = 2.0 * torch.atan2(s, w)
    small = s < 1e-6
    # angle / sin(angle / 2); series 2 + angle^2 / 12 near zero (angle ~ 2 s there).
    ratio = torch.where(small, 2.0 + (2.0 * s) ** 2 / 12.0, angle / torch.where(small, torch.ones_like(s), s))
    return v * ratio


def rotation_6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """Continuous 6D representation (Zhou et al., CVPR 2019) to rotation matrices.

    ``d6`` (..., 6) holds two 3-vectors, the unnormalised first and second *columns* of R;
    Gram-Schmidt turns them into an orthonormal frame and the third column is their cross product.
    """
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = torch.nn.functional.normalize(a1, dim=-1)
    b2 = torch.nn.functional.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def matrix_to_rotation_6d(R: torch.Tensor) -> torch.Tensor:
    """First two columns of R, (..., 3, 3) -> (..., 6); inverse of :func:`rotation_6d_to_matrix`."""
    return torch.cat([R[..., :, 0], R[..., :, 1]], dim=-1)


def geodesic_angle(R1: torch.Tensor, R2: torch.Tensor) -> torch.Tensor:
    """Angle in radians of the relative rotation R1^T R2, shape (...,), in [0, pi].

    Uses atan2(sin, cos) of the relative rotation, which is accurate at small angles where
    acos((trace - 1) / 2) loses precision and has an unbounded gradient.
    """
    rel = R1.transpose(-1, -2) @ R2
    cos = (rel.diagonal(dim1=-2, dim2=-1).sum(-1) - 1.0) / 2.0
    vee = torch.stack(
        [rel[..., 2, 1] - rel[..., 1, 2], rel[..., 0, 2] - rel[..., 2, 0], rel[..., 1, 0] - rel[..., 0, 1]], dim=-1
    )
    sin = 0.5 * torch.sqrt((vee * vee).sum(-1) + 1e-20)
    return torch.atan2(sin, cos)


def project_to_so3(M: torch.Tensor) -> torch.Tensor:
    """Nearest rotation (Frobenius norm) to each (..., 3, 3) matrix: U diag(1, 1, det) V^T.

    Applied to the element-wise mean of rotation matrices this gives the chordal L2 mean.
    """
    U, _, Vh = torch.linalg.svd(M)
    d = torch.det(U @ Vh)
    D = torch.ones(M.shape[:-2] + (3,), dtype=M.dtype, device=M.device)
    D[..., 2] = d
    return U @ torch.diag_embed(D) @ Vh
