"""Regularisers of per-video vertex offsets (online vertex refinement).

The parametric shape space cannot express everything a real animal shows (a Bactrian camel's
humps, a longer neck); the online networks may learn one free-form offset per template vertex
for the whole video (rest pose, so it is posed with the body), in the spirit of the
coarse-to-fine refinement of Li & Lee (NeurIPS 2021), but fitted per video instead of predicted
by a graph network. Offsets stay smooth (uniform mesh Laplacian) and small (squared norm).
"""

from __future__ import annotations

import torch
from torch import nn


def uniform_laplacian(faces: torch.Tensor, num_vertices: int) -> torch.Tensor:
    """Sparse (V, V) ``L = I - D^-1 A`` of the mesh's edge graph: ``L @ x`` is each vertex minus
    the mean of its neighbours."""
    f = faces.long().cpu()
    edges = torch.cat([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    edges = torch.unique(torch.cat([edges, edges.flip(1)]), dim=0)
    degree = torch.bincount(edges[:, 0], minlength=num_vertices).clamp_min(1).float()
    eye = torch.arange(num_vertices)
    rows = torch.cat([eye, edges[:, 0]])
    cols = torch.cat([eye, edges[:, 1]])
    vals = torch.cat([torch.ones(num_vertices), -1.0 / degree[edges[:, 0]]])
    return torch.sparse_coo_tensor(torch.stack([rows, cols]), vals, (num_vertices, num_vertices)).coalesce()


class OffsetRegularizer(nn.Module):
    """Loss terms ``offset_laplacian`` (mean squared Laplacian) and ``offset_norm`` (mean squared
    offset) of a (V, 3) offset field, in model units squared."""

    def __init__(self, faces: torch.Tensor, num_vertices: int) -> None:
        super().__init__()
        self.register_buffer("laplacian", uniform_laplacian(faces, num_vertices), persistent=False)

    def forward(self, offsets: torch.Tensor) -> dict[str, torch.Tensor]:
        smooth = torch.sparse.mm(self.laplacian, offsets)
        return {"offset_laplacian": (smooth**2).sum(-1).mean(), "offset_norm": (offsets**2).sum(-1).mean()}
