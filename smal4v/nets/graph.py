"""Graph-convolutional mesh refinement network of Coarse-to-fine (METHOD.md 3.4, ``MeshGraph_hg``).

Layers follow CMR (Kolotouros et al. 2019), as C2F does: :class:`GraphConv` multiplies ``X W``
by the row-normalised adjacency with self-loops ``(A + I) / degree`` (Kipf & Welling, *not*
Chebyshev); :class:`GraphLinear` is a per-vertex linear layer; :class:`GraphResBlock` is CMR's
bottleneck with GroupNorm. :class:`MeshRefiner` is C2F's hourglass over a
:class:`~smal4v.model.mesh_hierarchy.MeshHierarchy`: encoder blocks from level 1 down to the
coarsest level (down-sampling with D, skips kept), a block at the bottom, then up-sampling with
U and concatenating the skips back to level 1, and a head giving one 3D offset per vertex.
Per-vertex input: level-1 vertex positions, the global image feature and local features
bilinearly sampled (:func:`sample_vertex_features`) from the encoder's multi-scale maps at
each vertex's projection. Features are ``(B, V, C)``.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn


def sparse_tensor(matrix: sp.spmatrix) -> torch.Tensor:
    """A scipy sparse matrix as a coalesced float32 torch COO tensor."""
    coo = sp.coo_matrix(matrix)
    index = torch.as_tensor(np.vstack([coo.row, coo.col]), dtype=torch.long)
    return torch.sparse_coo_tensor(index, torch.as_tensor(coo.data, dtype=torch.float32), coo.shape,
                                   check_invariants=True).coalesce()


def normalized_adjacency(adjacency: sp.spmatrix) -> sp.csr_matrix:
    """``(A + I) / rowsum(A + I)``: the row-normalised adjacency with self-loops (rows sum to 1)."""
    a = sp.csr_matrix(adjacency, dtype=np.float64)
    a = (((a + a.T) + sp.eye(a.shape[0])) > 0).astype(np.float64)  # symmetric 0/1 with self-loops
    return sp.csr_matrix(sp.diags(1.0 / np.asarray(a.sum(1)).ravel()) @ a)


def apply_sparse(matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``matrix (N, V) @ x (B, V, C)`` -> (B, N, C) as one sparse-dense product."""
    B, V, C = x.shape
    out = torch.sparse.mm(matrix, x.permute(1, 0, 2).reshape(V, B * C))
    return out.reshape(matrix.shape[0], B, C).permute(1, 0, 2)


def _groups(channels: int) -> int:
    """CMR's GroupNorm groups (8 channels each) where that divides, else one group."""
    return channels // 8 if channels % 8 == 0 and channels >= 8 else 1


def _group_norm(norm: nn.GroupNorm, x: torch.Tensor) -> torch.Tensor:
    return norm(x.transpose(1, 2)).transpose(1, 2)


class GraphConv(nn.Module):
    """``adj @ (X W) + b`` with a fixed (normalised) sparse adjacency; CMR's uniform init."""

    def __init__(self, in_channels: int, out_channels: int, adjacency: torch.Tensor) -> None:
        super().__init__()
        bound = 6.0 / math.sqrt(in_channels + out_channels)
        self.weight = nn.Parameter(torch.empty(in_channels, out_channels).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound))
        self.register_buffer("adjacency", adjacency, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, V, in) -> (B, V, out)."""
        return apply_sparse(self.adjacency, x @ self.weight) + self.bias


class GraphLinear(nn.Linear):
    """Per-vertex linear layer (B, V, in) -> (B, V, out), with PyTorch's default init: CMR's
    uniform +-1/(in*out) made a short training run learn about 3x slower (docs/C2F.md)."""


class GraphResBlock(nn.Module):
    """CMR bottleneck: GN-ReLU-Linear(in->out/2)-GN-ReLU-GraphConv-GN-ReLU-Linear(->out) + skip."""

    def __init__(self, in_channels: int, out_channels: int, adjacency: torch.Tensor) -> None:
        super().__init__()
        mid = max(1, out_channels // 2)
        self.pre_norm = nn.GroupNorm(_groups(in_channels), in_channels)
        self.lin1 = GraphLinear(in_channels, mid)
        self.norm1 = nn.GroupNorm(_groups(mid), mid)
        self.conv = GraphConv(mid, mid, adjacency)
        self.norm2 = nn.GroupNorm(_groups(mid), mid)
        self.lin2 = GraphLinear(mid, out_channels)
        self.skip = GraphLinear(in_channels, out_channels) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.lin1(F.relu(_group_norm(self.pre_norm, x)))
        y = self.conv(F.relu(_group_norm(self.norm1, y)))
        y = self.lin2(F.relu(_group_norm(self.norm2, y)))
        return y + (x if self.skip is None else self.skip(x))


def sample_vertex_features(maps: list[torch.Tensor], xy: torch.Tensor, image_size: int) -> torch.Tensor:
    """Bilinear samples of every map (B, C_i, h, w) at pixel positions ``xy`` (B, V, 2) of an
    ``image_size`` crop -> (B, V, sum C_i); positions outside the crop read zeros."""
    grid = (2.0 * xy / float(image_size) - 1.0)[:, :, None, :]  # pixel centres at (i + 0.5): align_corners=False
    samples = [F.grid_sample(m, grid.to(m.dtype), mode="bilinear", padding_mode="zeros", align_corners=False)[..., 0]
               for m in maps]
    return torch.cat(samples, dim=1).transpose(1, 2)


class MeshRefiner(nn.Module):
    """C2F's hourglass GCN over hierarchy levels 1..L -> per-vertex offsets (B, V_1, 3) at level 1.

    ``adjacency[k]``, ``down[k]``, ``up[k]`` (torch sparse) are those of hierarchy levels
    1 + k: ``down[k]`` maps level 1 + k to 2 + k and ``up[k]`` back. ``channels`` is C2F's C
    (256); the head narrows to ``head_channels`` (C2F: 64, 32) before the 3 outputs, whose
    layer starts at zero so an untrained refiner leaves the coarse mesh unchanged.
    """

    def __init__(self, in_channels: int, adjacency: list[torch.Tensor], down: list[torch.Tensor],
                 up: list[torch.Tensor], channels: int = 256, head_channels: tuple[int, int] = (64, 32)) -> None:
        super().__init__()
        if len(down) != len(adjacency) - 1 or len(up) != len(down):
            raise ValueError(f"MeshRefiner: {len(adjacency)} levels need {len(adjacency) - 1} down/up matrices, "
                             f"got {len(down)}/{len(up)}")
        C, levels = int(channels), len(adjacency)
        self.lin1 = GraphLinear(in_channels, 2 * C)
        self.res1 = GraphResBlock(2 * C, C, adjacency[0])
        self.encoder = nn.ModuleList(GraphResBlock(C, C, a) for a in adjacency)
        self.bottom = GraphResBlock(C, C, adjacency[-1])
        for k, (d, u) in enumerate(zip(down, up)):
            self.register_buffer(f"down_{k}", d, persistent=False)
            self.register_buffer(f"up_{k}", u, persistent=False)
        self.levels = levels
        h1, h2 = head_channels
        self.head1 = GraphResBlock(C * levels, h1, adjacency[0])
        self.head2 = GraphResBlock(h1, h2, adjacency[0])
        self.head_norm = nn.GroupNorm(_groups(h2), h2)
        self.out = GraphLinear(h2, 3)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, V_1, in_channels) -> offsets (B, V_1, 3)."""
        x = self.res1(self.lin1(x))
        skips = []
        for k, block in enumerate(self.encoder):
            x = block(x)
            if k < self.levels - 1:
                skips.append(x)
                x = apply_sparse(getattr(self, f"down_{k}"), x)
        x = self.bottom(x)
        for k in reversed(range(self.levels - 1)):
            x = torch.cat([apply_sparse(getattr(self, f"up_{k}"), x), skips[k]], dim=-1)
        x = self.head2(self.head1(x))
        return self.out(F.relu(_group_norm(self.head_norm, x)))
