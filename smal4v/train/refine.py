"""Per-video mesh refinement on top of the online predictions (stage ``refine``, variant ``refined``).

Refinement fits, per video, one field of vertex offsets (:class:`SurfaceOffsets`: along the rest
normals, left/right symmetric, smooth; on top of the coarse prediction's own offsets, if any)
together with per-frame pose and translation corrections that are kept small and smooth in time.
Targets: the densified silhouettes (at ``refine.loss.mask_size``, 128 px with sharp edges by
default), the training keypoints and, with weight ``head_detections`` > 0, the keypoint detections
online trained on (adapted to the video; soft targets on the frames without annotation). C2F's GCN,
which predicts such offsets from image features, is implemented apart (smal4v/nets/coarse_to_fine.py);
this is its test-time (optimisation) counterpart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from smal4v.model.surface_offsets import SurfaceOffsets, offsets_for_shape
from smal4v.nets.params import SMALParams
from smal4v.train.config import RefineConfig
from smal4v.train.loop import fit, progress, seed_everything, select_device
from smal4v.train.losses import keypoint_loss, silhouette_loss, temporal_losses, weighted_total
from smal4v.train.online import detection_targets
from smal4v.train.scene import Priors, Scene


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
    coarse_offsets: torch.Tensor | None = None, detections: torch.Tensor | None = None, name: str = "video",
) -> tuple[SMALParams, torch.Tensor, list[dict[str, float]]]:
    """Refine one video's per-frame crop-camera ``coarse`` parameters (N,) (with the coarse
    mesh's own vertex offsets (V, 3), if any) against ``masks`` (N, S, S) in [0, 1] and
    ``keypoints`` (N, K, 3) crop px (visibility 0 where not given); ``detections`` (N, K, 3) crop px
    [x, y, probability seen], needed with weight ``head_detections`` > 0.

    Returns the refined parameters (N,), the total vertex offsets (V, 3) (coarse + refined) and
    the loss history; resumes from ``out_dir/checkpoint.pt``.
    """
    cfg = cfg if isinstance(cfg, RefineConfig) else RefineConfig.from_dict(cfg, "refine")
    seed_everything(cfg.seed)
    device = select_device(cfg.device)
    model.to(device)
    coarse = coarse.detach().to(device)
    n = coarse.focal.shape[0]
    base = torch.zeros(model.num_vertices, 3, device=device) if coarse_offsets is None else coarse_offsets.to(device)
    state = Refinement(coarse, offsets_for_shape(model, coarse.betas.mean(0), base)).to(device)
    scene = Scene(model, keypoint_set, image_size, cfg.loss.mask_size, cfg.loss.silhouette_sigma)
    priors = Priors(model, shape_family).to(device)
    targets = scene.resize_masks(masks.to(device))
    keypoints = keypoints.to(device)
    soft = {}
    if cfg.weights.get("head_detections", 0) > 0:
        if detections is None:
            raise ValueError(f"{name}: refine weights.head_detections > 0 but no keypoint detections were given "
                             "(the parent needs network.keypoint_head: true)")
        soft["head_detections"] = detection_targets(detections, keypoints.cpu()).to(device)
    opt = torch.optim.Adam([{"params": state.offsets.parameters(), "lr": cfg.lr_offsets},
                            {"params": [state.pose_delta, state.trans_delta], "lr": cfg.lr_corrections}])

    def step_losses(frames: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Silhouettes of the sampled ``frames``; keypoints, smoothness and priors over the whole
        video (no rendering, cheap), so the corrections stay smooth everywhere."""
        params = state.params(slice(None))
        offsets = base + state.offsets()
        every = scene(params, silhouette=False, delta_v=offsets[None].expand(n, -1, -1))
        sampled = scene(params[frames], silhouette=True, delta_v=offsets[None].expand(len(frames), -1, -1))
        terms = {
            "silhouette": silhouette_loss(sampled.silhouette, targets[frames], None, cfg.loss.silhouette_loss,  # type: ignore[arg-type]
                                          cfg.loss.tversky_alpha, cfg.loss.tversky_beta),
            "keypoints": keypoint_loss(every.keypoints, keypoints, image_size, cfg.loss.keypoint_loss),
            **{term: keypoint_loss(every.keypoints, target, image_size, cfg.loss.keypoint_loss) for term, target in soft.items()},
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
        return state.params(slice(None)).detach().to("cpu"), (base + state.offsets()).detach().cpu(), history
