"""Rotation helpers for the networks: re-exports of :mod:`smal4v.model.rotations` plus the
projection onto SO(3) used to average rotations of overlapping windows."""

from __future__ import annotations

import torch

from smal4v.model.rotations import (
    axis_angle_to_matrix,
    geodesic_angle,
    matrix_to_axis_angle,
    matrix_to_rotation_6d,
    rotation_6d_to_matrix,
)

__all__ = [
    "axis_angle_to_matrix",
    "geodesic_angle",
    "matrix_to_axis_angle",
    "matrix_to_rotation_6d",
    "rotation_6d_to_matrix",
    "project_to_so3",
]


def project_to_so3(M: torch.Tensor) -> torch.Tensor:
    """Nearest rotation (Frobenius norm) to each (..., 3, 3) matrix: U diag(1, 1, det) V^T.

    Applied to the element-wise mean of rotation matrices this gives the chordal L2 mean.
    """
    U, _, Vh = torch.linalg.svd(M)
    d = torch.det(U @ Vh)
    D = torch.ones(M.shape[:-2] + (3,), dtype=M.dtype, device=M.device)
    D[..., 2] = d
    return U @ torch.diag_embed(D) @ Vh
