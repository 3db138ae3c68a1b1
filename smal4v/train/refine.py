"""Per-video mesh refinement on top of the online predictions (stage ``refine``, variant ``refined``).

A body model's shape space cannot express every animal: the procedural camel has no humps, and a
Bactrian camel's neck and legs are thicker than its family mean. Refinement fits, per video, one
field of vertex offsets along the rest-pose normals, added to the shaped template before posing
(C2F's ``del_v``, METHOD.md 3.4), kept left/right symmetric and smooth by a Laplacian term as in
SMALR (Zuffi et al., CVPR 2018), together with per-frame pose and translation corrections that are
kept small and smooth in time. Targets: the densified silhouettes at a finer mask resolution than
online training and the training keypoints. C2F's GCN, which predicts such offsets from image
features, is not implemented; this is its test-time (optimisation) counterpart.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from smal4v.model.procedural.mesh import mirror_partners, vertex_adjacency
from smal4v.nets.params import SMALParams
from smal4v.train.config import RefineConfig
from smal4v.train.loop import fit, progress, seed_everything, select_device
from smal4v.train.losses import keypoint_loss, silhouette_loss, temporal_losses, weighted_total
from smal4v.train.scene import Priors, Scene

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


class Refinement(nn.Module):
    """What refinement learns for one video: the offsets and per-frame pose/translation corrections."""

    def __init__(self, coarse: SMALParams, offsets: SurfaceOffsets) -> None:
        super().__init__()
        self.coarse = coarse
        self.offsets = offsets
        self.pose_delta = nn.Parameter(torch.zeros_like(coarse.pose))
        self.trans_delta = nn.Parameter(torch.zeros_like(coarse.trans))

    def params(self, idx: torch.Tensor | slice) -> SMALParams:
        """Refined parameters of frames ``idx`` (the offsets are applied by the caller)."""
        c = self.coarse
        return SMALParams(c.betas[idx], c.pose[idx] + self.pose_delta[idx], c.trans[idx] + self.trans_delta[idx],
                          c.focal[idx], None if c.limb_scale is None else c.limb_scale[idx])


def refine_sequence(
    model: nn.Module, keypoint_set: Any, coarse: SMALParams, masks: torch.Tensor, keypoints: torch.Tensor,
    image_size: int, cfg: RefineConfig | dict[str, Any], out_dir: str | Path, shape_family: str | None = None,
) -> tuple[SMALParams, torch.Tensor, list[dict[str, float]]]:
    """Refine one video's per-frame crop-camera ``coarse`` parameters (N,) against ``masks``
    (N, S, S) in [0, 1] and ``keypoints`` (N, K, 3) crop px (visibility 0 where not given).

    Returns the refined parameters (N,), the vertex offsets (V, 3) and the loss history; resumes
    from ``out_dir/checkpoint.pt``.
    """
    cfg = cfg if isinstance(cfg, RefineConfig) else RefineConfig.from_dict(cfg, "refine")
    seed_everything(cfg.seed)
    device = select_device(cfg.device)
    model.to(device)
    coarse = coarse.detach().to(device)
    n = coarse.focal.shape[0]
    with torch.no_grad():
        rest = model(coarse.betas.mean(0, keepdim=True), torch.zeros(1, model.num_joints, 3, device=device)).vertices[0]
    state = Refinement(coarse, SurfaceOffsets(rest, model.faces, model.v_template.detach().cpu().numpy())).to(device)
    scene = Scene(model, keypoint_set, image_size, cfg.loss.mask_size, cfg.loss.silhouette_sigma)
    priors = Priors(model, shape_family).to(device)
    targets = scene.resize_masks(masks.to(device))
    keypoints = keypoints.to(device)
    opt = torch.optim.Adam([{"params": state.offsets.parameters(), "lr": cfg.lr_offsets},
                            {"params": [state.pose_delta, state.trans_delta], "lr": cfg.lr_corrections}])

    def step_losses(frames: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Silhouettes of the sampled ``frames``; keypoints, smoothness and priors over the whole
        video (no rendering, cheap), so the corrections stay smooth everywhere."""
        params = state.params(slice(None))
        offsets = state.offsets()
        every = scene(params, silhouette=False, delta_v=offsets[None].expand(n, -1, -1))
        sampled = scene(params[frames], silhouette=True, delta_v=offsets[None].expand(len(frames), -1, -1))
        terms = {
            "silhouette": silhouette_loss(sampled.silhouette, targets[frames], None, cfg.loss.silhouette_loss,  # type: ignore[arg-type]
                                          cfg.loss.tversky_alpha, cfg.loss.tversky_beta),
            "keypoints": keypoint_loss(every.keypoints, keypoints, image_size, cfg.loss.keypoint_loss),
            "offset_smoothness": state.offsets.smoothness(),
            "offset_norm": state.offsets.norm(),
            "pose_correction": (state.pose_delta ** 2).mean(),
        }
        terms.update(temporal_losses(params.unflatten((1, n)), every.keypoints[None], image_size, cfg.loss.temporal_order))
        terms.update(priors(params))
        return weighted_total(terms, cfg.weights)

    def epoch_fn(epoch: int) -> dict[str, float]:
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
        sums: dict[str, float] = {}
        for _ in progress(range(cfg.steps_per_epoch), cfg.progress, f"refine epoch {epoch + 1}/{cfg.epochs}"):
            frames = torch.randperm(n, generator=gen)[: cfg.frames_per_step].to(device)
            opt.zero_grad(set_to_none=True)
            total, logged = step_losses(frames)
            total.backward()
            opt.step()
            for k, v in logged.items():
                sums[k] = sums.get(k, 0.0) + v / cfg.steps_per_epoch
        return sums

    history = fit(state, opt, cfg.epochs, epoch_fn, out_dir, cfg.checkpoint_every, {"refine_config": cfg.to_dict()}, name="refine")
    with torch.no_grad():
        return state.params(slice(None)).detach().to("cpu"), state.offsets().detach().cpu(), history
