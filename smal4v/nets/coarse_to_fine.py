"""CoarseToFineNet: the single-frame (coarse) network followed by C2F's mesh refinement GCN.

The coarse network predicts SMAL parameters; its mesh goes one hierarchy step down (D[0]) to
level 1, where each vertex gets its position, the global image feature (pooled last encoder
map) and, with ``local_features``, the encoder maps bilinearly sampled at its projection
(METHOD.md 3.4); with ``template_input`` (not C2F's), also its rest-template position. The GCN's level-1 offsets go up with U[0] to the full mesh, optionally
averaged with their left/right mirror, and are added to the template before pose blend shapes
and skinning (``AnimalModel(delta_v=...)``): canonical-space offsets with the coarse estimate's
betas, pose, translation and camera.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from smal4v.model.mesh_hierarchy import MeshHierarchy
from smal4v.model.procedural.mesh import mirror_partners
from smal4v.nets.encoder import EncoderOutput
from smal4v.nets.graph import MeshRefiner, normalized_adjacency, sample_vertex_features, sparse_tensor
from smal4v.nets.params import SMALParams
from smal4v.nets.single_frame import SingleFrameNet
from smal4v.render.camera import Camera
from smal4v.train.c2f_config import GCNConfig


def build_refiner(hierarchy: MeshHierarchy, in_channels: int, cfg: GCNConfig) -> MeshRefiner:
    """The hourglass GCN over hierarchy levels 1..L."""
    n = len(hierarchy.sizes)
    adjacency = [sparse_tensor(normalized_adjacency(hierarchy.adjacency(k))) for k in range(1, n)]
    down = [sparse_tensor(hierarchy.down[k]) for k in range(1, n - 1)]
    up = [sparse_tensor(hierarchy.up[k]) for k in range(1, n - 1)]
    return MeshRefiner(in_channels, adjacency, down, up, cfg.channels, tuple(cfg.head_channels))  # type: ignore[arg-type]


def vertex_partners(template: np.ndarray) -> np.ndarray | None:
    """Left/right mirror partner of every template vertex, None if the template is not symmetric."""
    return mirror_partners(template, 1e-3 * float(np.ptp(template, axis=0).max()))


class CoarseToFineNet(nn.Module):
    """``coarse`` (a SingleFrameNet) + the GCN; see the module docstring."""

    def __init__(self, coarse: SingleFrameNet, hierarchy: MeshHierarchy, cfg: GCNConfig) -> None:
        super().__init__()
        self.coarse = coarse
        self.config = cfg
        channels = coarse.encoder.map_channels
        in_channels = 3 + channels[-1] + (sum(channels) if cfg.local_features else 0) + (3 if cfg.template_input else 0)
        self.refiner = build_refiner(hierarchy, in_channels, cfg)
        self.register_buffer("down0", sparse_tensor(hierarchy.down[0]), persistent=False)
        template = torch.as_tensor(hierarchy.down[0] @ hierarchy.vertices[0], dtype=torch.float32)
        self.register_buffer("template1", template - template.mean(0), persistent=False)
        self.register_buffer("up0", sparse_tensor(hierarchy.up[0]), persistent=False)
        partners = vertex_partners(hierarchy.vertices[0]) if cfg.symmetric else None
        self.register_buffer("partners", None if partners is None else torch.as_tensor(partners, dtype=torch.long),
                             persistent=False)
        self.image_size = int(coarse.config.image_size)
        self.hierarchy_key = hierarchy.key  # checkpoints name the hierarchy they were trained on

    def encode(self, images: torch.Tensor) -> tuple[SMALParams, EncoderOutput]:
        """The coarse prediction and the encoder's features of a batch of crops (B, 3, S, S)."""
        features = self.coarse.encoder.forward_features(images)
        return self.coarse.heads(features.feature), features

    def offsets(self, features: EncoderOutput, coarse_vertices: torch.Tensor, focal: torch.Tensor) -> torch.Tensor:
        """Canonical-space offsets (B, V, 3) from the coarse camera-frame mesh (B, V, 3) and its crop focal (B,)."""
        level1 = torch.stack([torch.sparse.mm(self.down0, v) for v in coarse_vertices])  # (B, V1, 3)
        pooled, maps = features.pooled, features.maps
        if self.config.detach_features:
            pooled, maps = pooled.detach(), [m.detach() for m in maps]
        centre = level1.mean(1, keepdim=True)
        parts = [level1 - centre, pooled[:, None, :].expand(-1, level1.shape[1], -1)]
        if self.config.local_features:
            xy = Camera(focal, self.image_size).project(level1)
            parts.append(sample_vertex_features(maps, xy, self.image_size))
        if self.config.template_input:
            parts.append(self.template1[None].expand(len(level1), -1, -1))
        small = self.refiner(torch.cat(parts, dim=-1)) * self.config.offset_scale
        full = torch.stack([torch.sparse.mm(self.up0, s) for s in small])  # (B, V, 3)
        if self.partners is not None:
            full = 0.5 * (full + full[:, self.partners] * full.new_tensor([1.0, -1.0, 1.0]))
        return full

    def forward(self, images: torch.Tensor, model: nn.Module) -> tuple[SMALParams, torch.Tensor]:
        """images (B, 3, S, S) -> (coarse parameters, offsets (B, V, 3)); the refined mesh is
        ``model(betas, pose, trans, limb_scale, offsets)``."""
        params, features = self.encode(images)
        coarse = model(params.betas, params.pose, params.trans, params.limb_scale).vertices
        return params, self.offsets(features, coarse, params.focal)
