"""Loss terms of the coarse-to-fine stages that the other stages do not have (METHOD.md 4).

Keypoints, Tversky silhouettes and the priors are :mod:`smal4v.train.losses` and
:class:`smal4v.train.scene.Priors`; here is C2F's "ARAP" term, which is in fact a
Laplacian-coordinate preservation loss: with the unnormalised graph Laplacian L = D - A of
the full mesh, the mean over vertices of ||L V_refined - L stopgrad(V_coarse)||_2.
"""

from __future__ import annotations

import scipy.sparse as sp
import torch
from torch import nn

from smal4v.model.procedural.mesh import vertex_adjacency
from smal4v.nets.graph import apply_sparse, sparse_tensor


class LaplacianLoss(nn.Module):
    """C2F's Laplacian-coordinate loss on a mesh with ``faces`` (F, 3) and ``num_vertices`` vertices."""

    def __init__(self, faces: torch.Tensor, num_vertices: int) -> None:
        super().__init__()
        adjacency = vertex_adjacency(faces.detach().cpu().numpy(), int(num_vertices))
        laplacian = sp.diags(adjacency.sum(1).A.ravel()) - adjacency
        self.register_buffer("laplacian", sparse_tensor(laplacian), persistent=False)

    def coordinates(self, vertices: torch.Tensor) -> torch.Tensor:
        """Laplacian coordinates (B, V, 3) of meshes (B, V, 3)."""
        return apply_sparse(self.laplacian, vertices)

    def forward(self, refined: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        """Mean per-vertex L2 distance between the Laplacian coordinates; ``coarse`` is detached."""
        return (self.coordinates(refined) - self.coordinates(coarse.detach())).norm(dim=-1).mean()
