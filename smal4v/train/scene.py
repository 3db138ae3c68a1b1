"""From SMALParams to what the losses compare: posed mesh, projected keypoints, soft silhouettes,
and the prior terms. Shared by the single-frame and online training loops.

Silhouettes are rendered at ``mask_size`` (<= crop size, to save CPU) with the focal scaled by
``mask_size / image_size`` and the principal point at the centre, which is exactly the crop
camera resampled to the smaller grid; targets are area-downsampled to match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from smal4v.model.priors import JointLimitLoss, PosePriorLoss, ShapePriorLoss
from smal4v.nets.params import SMALParams
from smal4v.render.camera import Camera
from smal4v.render.soft_rasterizer import SoftSilhouetteRenderer


@dataclass
class SceneOutput:
    vertices: torch.Tensor  # (B, V, 3) camera frame
    keypoints: torch.Tensor  # (B, K, 2) crop pixels
    silhouette: torch.Tensor | None  # (B, M, M) in [0, 1]


class Scene:
    """Model + keypoint set + cameras for a crop of ``image_size`` px."""

    def __init__(
        self, model: nn.Module, keypoint_set: Any, image_size: int, mask_size: int = 64, sigma: float = 0.1,
        renderer: Any | None = None,
    ) -> None:
        self.model = model
        self.keypoint_set = keypoint_set
        self.image_size = int(image_size)
        self.mask_size = int(mask_size) if mask_size else int(image_size)
        if renderer is None:
            renderer = SoftSilhouetteRenderer(self.mask_size, sigma=sigma)
        self.renderer = renderer

    def __call__(self, params: SMALParams, silhouette: bool = True, delta_v: torch.Tensor | None = None,
                 silhouette_rows: torch.Tensor | None = None) -> SceneOutput:
        """params with batch (B,) (and optional per-vertex offsets (B, V, 3)) -> SceneOutput;
        ``silhouette_rows`` (R,): render the silhouettes of these rows only (rendering is most of
        a training step's time), giving silhouette (R, M, M)."""
        out = self.model(params.betas, params.pose, params.trans, params.limb_scale, delta_v)
        cam = Camera(params.focal, self.image_size)
        kp3d = self.keypoint_set.select(out, self.model)
        kp = cam.project(kp3d)
        sil = None
        if silhouette:
            vertices, focal = out.vertices, params.focal
            if silhouette_rows is not None:
                vertices, focal = vertices[silhouette_rows], focal[silhouette_rows]
            small = Camera(focal * (self.mask_size / self.image_size), self.mask_size)
            sil = self.renderer(vertices, self.model.faces, small)
        return SceneOutput(vertices=out.vertices, keypoints=kp, silhouette=sil)

    def resize_masks(self, masks: torch.Tensor) -> torch.Tensor:
        """(B, S, S) targets in [0, 1] -> (B, M, M) area-averaged."""
        if masks.shape[-1] == self.mask_size:
            return masks.float()
        return F.interpolate(masks[:, None].float(), size=(self.mask_size, self.mask_size), mode="area")[:, 0]


class Priors(nn.Module):
    """Pose, shape and joint-limit priors of the model, where available.

    The shape prior is the named family's Gaussian, or without a family the standard normal
    over betas (the procedural shape space is scaled to unit variance per component), so a
    per-video shape never drifts unconstrained.
    """

    def __init__(self, model: nn.Module, shape_family: str | None) -> None:
        super().__init__()
        prior = getattr(model, "pose_prior", None)
        self.pose = PosePriorLoss(prior) if prior is not None else None
        self.limits = JointLimitLoss(prior.limits) if prior is not None and prior.limits is not None else None
        families = getattr(model, "shape_families", [])
        self.shape = ShapePriorLoss(families, shape_family) if shape_family is not None and families else None

    def forward(self, params: SMALParams) -> dict[str, torch.Tensor]:
        """Terms present for this model: pose_prior, joint_limits, shape_prior, limb_scale_reg."""
        flat = params.flatten()
        out: dict[str, torch.Tensor] = {}
        if self.pose is not None:
            out["pose_prior"] = self.pose(flat.pose)
        if self.limits is not None:
            out["joint_limits"] = self.limits(flat.pose)
        out["shape_prior"] = self.shape(flat.betas) if self.shape is not None else (flat.betas**2).mean()
        if flat.limb_scale is not None:
            out["limb_scale_reg"] = (flat.limb_scale**2).mean()
        return out
