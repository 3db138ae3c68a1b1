"""Differentiable rotation conversions used by the parameter heads and the window merging.

Networks regress the continuous 6D representation (first two matrix columns, Zhou et al.
2019); the body model takes axis-angle, so we convert 6D -> matrix -> quaternion ->
axis-angle with branches that stay finite (value and gradient) near the identity.
"""

from __future__ import annotations

import torch

_SMALL = 1e-6


def rotation_6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3) via Gram-Schmidt; the 6 values are the first two columns."""
    a1, a2 = d6[..., 0:3], d6[..., 3:6]
    b1 = torch.nn.functional.normalize(a1, dim=-1, eps=1e-8)
    b2 = a2 - (b1 * a2).sum(-1, keepdim=True) * b1
    b2 = torch.nn.functional.normalize(b2, dim=-1, eps=1e-8)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)


def matrix_to_rotation_6d(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 6): the first two columns, column-major as in ``rotation_6d_to_matrix``."""
    return torch.cat((R[..., :, 0], R[..., :, 1]), dim=-1)


def axis_angle_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    """Rodrigues formula (..., 3) -> (..., 3, 3), Taylor-expanded near zero angle."""
    theta2 = (aa * aa).sum(-1, keepdim=True)[..., None]  # (...,1,1)
    theta = torch.sqrt(theta2.clamp_min(_SMALL**2))
    small = theta2 < 1e-8
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / theta2.clamp_min(1e-12))
    x, y, z = aa.unbind(-1)
    zero = torch.zeros_like(x)
    K = torch.stack((zero, -z, y, z, zero, -x, -y, x, zero), dim=-1).reshape(aa.shape[:-1] + (3, 3))
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand_as(K)
    return eye + a * K + b * (K @ K)


def _sqrt_positive(x: torch.Tensor) -> torch.Tensor:
    """sqrt(max(x, 0)) with a zero (not infinite) gradient where x <= 0."""
    out = torch.zeros_like(x)
    pos = x > 0
    out[pos] = torch.sqrt(x[pos])
    return out


def matrix_to_quaternion(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> unit quaternion (..., 4) as (w, x, y, z) with w >= 0.

    Picks, per rotation, the best-conditioned of the four standard formulas.
    """
    m = R.reshape(R.shape[:-2] + (9,))
    m00, m01, m02, m10, m11, m12, m20, m21, m22 = m.unbind(-1)
    q_abs = _sqrt_positive(
        torch.stack(
            (1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22), dim=-1
        )
    )
    cands = torch.stack(
        (
            torch.stack((q_abs[..., 0] ** 2, m21 - m12, m02 - m20, m10 - m01), dim=-1),
            torch.stack((m21 - m12, q_abs[..., 1] ** 2, m10 + m01, m02 + m20), dim=-1),
            torch.stack((m02 - m20, m10 + m01, q_abs[..., 2] ** 2, m12 + m21), dim=-1),
            torch.stack((m10 - m01, m20 + m02, m21 + m12, q_abs[..., 3] ** 2), dim=-1),
        ),
        dim=-2,
    )
    cands = cands / (2.0 * q_abs[..., None].clamp_min(0.1))
    best = torch.nn.functional.one_hot(q_abs.argmax(-1), 4).to(R.dtype)
    q = (cands * best[..., None]).sum(-2)
    q = torch.nn.functional.normalize(q, dim=-1)
    return torch.where(q[..., :1] < 0, -q, q)


def quaternion_to_axis_angle(q: torch.Tensor) -> torch.Tensor:
    """Unit quaternion (w, x, y, z) (..., 4) -> axis-angle (..., 3), angle in [0, pi]."""
    xyz = q[..., 1:]
    s2 = (xyz * xyz).sum(-1, keepdim=True)
    s = torch.sqrt(s2.clamp_min(1e-16))
    half = torch.atan2(s, q[..., :1])
    angle = 2.0 * half
    small = s2 < 1e-10
    # angle / sin(half); Taylor expansion near zero: 2 / w * (1 + s^2 / (3 w^2))
    w = q[..., :1]
    ratio_small = 2.0 / w.clamp_min(_SMALL) * (1.0 + s2 / (3.0 * w.clamp_min(_SMALL) ** 2))
    ratio = torch.where(small, ratio_small, angle / torch.where(small, torch.ones_like(s), s))
    return xyz * ratio


def matrix_to_axis_angle(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 3)."""
    return quaternion_to_axis_angle(matrix_to_quaternion(R))


def project_to_so3(M: torch.Tensor) -> torch.Tensor:
    """Nearest rotation (Frobenius) to each (..., 3, 3) matrix, via SVD with det fixed to +1."""
    U, _, Vh = torch.linalg.svd(M)
    det = torch.det(U @ Vh)
    D = torch.ones(M.shape[:-2] + (3,), dtype=M.dtype, device=M.device)
    D[..., 2] = det
    return U @ torch.diag_embed(D) @ Vh


def geodesic_distance(R1: torch.Tensor, R2: torch.Tensor) -> torch.Tensor:
    """Rotation angle (radians) of R1^T R2, (..., 3, 3) -> (...); clamped acos for stability."""
    tr = (R1 * R2).sum((-1, -2))
    cos = ((tr - 1.0) / 2.0).clamp(-1.0 + 1e-6, 1.0 - 1e-6)
    return torch.acos(cos)
