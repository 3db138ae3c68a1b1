"""Test meshes for the render tests (built here so the tests do not depend on smal4v.model)."""

from __future__ import annotations

import math

import torch
import trimesh


def ellipsoid(subdivisions: int = 3, radii=(1.5, 0.6, 0.8), centre=(0.0, 0.0, 5.0),
              dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed CCW-outward ellipsoid (icosphere scaled), vertices in the camera frame."""
    m = trimesh.creation.icosphere(subdivisions=subdivisions)
    v = torch.tensor(m.vertices, dtype=dtype) * torch.tensor(radii, dtype=dtype) + torch.tensor(centre, dtype=dtype)
    return v, torch.tensor(m.faces, dtype=torch.long)


def polygon_fan(n: int, radius: float, depth: float, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """Regular n-gon at constant depth facing the camera, as a triangle fan (front-facing)."""
    ang = torch.arange(n, dtype=dtype) * (2 * math.pi / n)
    rim = torch.stack([radius * torch.cos(ang), radius * torch.sin(ang), torch.full_like(ang, depth)], 1)
    v = torch.cat([torch.tensor([[0.0, 0.0, depth]], dtype=dtype), rim])
    i = torch.arange(n)
    # (centre, next, current): clockwise in pixels (y down) == facing the camera
    f = torch.stack([torch.zeros(n, dtype=torch.long), (i + 1) % n + 1, i + 1], 1)
    return v, f


def test_meshes_are_closed_and_outward():
    v, f = ellipsoid(2, centre=(0.0, 0.0, 0.0))
    m = trimesh.Trimesh(v.numpy(), f.numpy(), process=False)
    assert m.is_watertight and m.is_winding_consistent and m.volume > 0
    assert 0.95 < m.volume / (4 / 3 * math.pi * 1.5 * 0.6 * 0.8) < 1.0   # inscribed polyhedron
    pv, pf = polygon_fan(8, 1.0, 2.0)
    tri = pv[pf]
    normal = torch.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=1)
    assert (normal[:, 2] < 0).all()          # normals point back to the camera (-z)
