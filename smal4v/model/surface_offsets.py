"""Per-video free-form shape: one offset per vertex along its rest normal, left/right symmetric.

A body model's shape space cannot express every animal (the procedural camel has no humps; a
Bactrian camel's neck and legs are thicker than its family mean). :class:`SurfaceOffsets` is the
free-form part of a video's shape, added to the shaped template before posing (C2F's ``del_v``,
METHOD.md 3.4) and kept smooth by a Laplacian term as in SMALR (Zuffi et al., CVPR 2018). Used by
the online networks (``online.shape_offsets``) and by refinement.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

from smal4v.model.procedural.mesh import mirror_partners, vertex_adjacency

log = logging.getLogger(__name__)


def rest_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Unit area-weighted vertex normals (V, 3) of a mesh (V, 3) with faces (F, 3)."""
    f = faces.long()
    v0, v1, v2 = vertices[f[:, 0]], vertices[f[:, 1]], vertices[f[:, 2]]
    face_normals = torch.cross(v1 - v0, v2 - v0, dim=1)
    normals = torch.zeros_like(vertices).index_add_(0, f.reshape(-1), face_normals.repeat_interleave(3, 0))
    return normals / normals.norm(dim=1, keepdim=True).clamp_min(1e-12)


class SurfaceOffsets(nn.Module):
    """One offset per vertex along its rest-pose normal: ``delta_v = s * n``, with ``s``
    averaged over left/right partners (symmetric) when the template is symmetric."""

    def __init__(self, rest_vertices: torch.Tensor, faces: torch.Tensor, template: np.ndarray) -> None:
        super().__init__()
        n = rest_vertices.shape[0]
        self.scale = nn.Parameter(torch.zeros(n, 1))
        extent = float(np.ptp(template, axis=0).max())
        partners = mirror_partners(template, 1e-3 * extent)
        if partners is None:
            log.warning("template is not left/right symmetric: offsets are not symmetrised")
            partners = np.arange(n)
        self.register_buffer("partners", torch.as_tensor(partners, dtype=torch.long))
        normals = rest_normals(rest_vertices.detach().float(), faces)
        # the triangulation need not be mirror-symmetric even where the positions are
        mirrored = normals[self.partners] * torch.tensor([1.0, -1.0, 1.0])
        self.register_buffer("normals", torch.nn.functional.normalize(normals + mirrored, dim=1))
        adjacency = vertex_adjacency(faces.detach().cpu().numpy(), n).tocoo()
        degree = np.bincount(adjacency.row, minlength=n).clip(min=1)
        weights = torch.as_tensor(1.0 / degree[adjacency.row], dtype=torch.float32)
        index = torch.as_tensor(np.vstack([adjacency.row, adjacency.col]), dtype=torch.long)
        self.register_buffer("neighbour_mean", torch.sparse_coo_tensor(index, weights, (n, n), check_invariants=True).coalesce())

    def symmetric_scale(self) -> torch.Tensor:
        return 0.5 * (self.scale + self.scale[self.partners])

    def forward(self) -> torch.Tensor:
        """Offsets (V, 3) in model units."""
        return self.symmetric_scale() * self.normals

    def smoothness(self) -> torch.Tensor:
        """Mean squared uniform Laplacian of the offset field (model units^2)."""
        s = self.symmetric_scale()
        return ((s - torch.sparse.mm(self.neighbour_mean, s)) ** 2).mean()

    def norm(self) -> torch.Tensor:
        return (self.symmetric_scale() ** 2).mean()


def offsets_for_shape(model: nn.Module, betas: torch.Tensor, base_offsets: torch.Tensor | None = None) -> SurfaceOffsets:
    """Zero offsets over ``model``'s rest mesh at ``betas`` (num_betas,) (plus fixed ``base_offsets``
    (V, 3), e.g. an earlier stage's): their normals and symmetry come from that shape."""
    device = model.v_template.device
    with torch.no_grad():
        zero_pose = torch.zeros(1, model.num_joints, 3, device=device)
        base = None if base_offsets is None else base_offsets[None].to(device)
        rest = model(betas.reshape(1, -1).to(device), zero_pose, None, None, base).vertices[0]
    return SurfaceOffsets(rest, model.faces, model.v_template.detach().cpu().numpy())
