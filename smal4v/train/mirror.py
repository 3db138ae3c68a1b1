"""Horizontal flip of training samples together with their 3D truth.

The model is left/right symmetric about its ``y = 0`` plane, so the mirror image of a posed
animal is the same model with left/right joints swapped: local rotations ``w -> (-wx, wy, -wz)``
(reflection ``P = diag(1, -1, 1)`` conjugates a rotation to ``det(P) P w``), the root rotation
``R -> F R P`` with the camera flip ``F = diag(-1, 1, 1)``, and the translation corrected for the
root joint, about which the root rotation turns. Doubles the views a base network sees (an
animal walking left becomes one walking right) at no rendering cost.
"""

from __future__ import annotations

import torch
from torch import nn

from smal4v.model.keypoints import KeypointSet
from smal4v.model.model_data import flip_permutation
from smal4v.model.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from smal4v.train.datasets import Batch

_CAMERA_FLIP = torch.diag(torch.tensor([-1.0, 1.0, 1.0]))
_MODEL_FLIP = torch.diag(torch.tensor([1.0, -1.0, 1.0]))
_LOCAL_SIGN = torch.tensor([-1.0, 1.0, -1.0])


class Mirror:
    """Flips a :class:`Batch` (crop images, keypoints, masks, ground-truth parameters)."""

    def __init__(self, model: nn.Module, keypoint_set: KeypointSet | None) -> None:
        self.model = model
        self.joint_flip = torch.as_tensor(flip_permutation(list(model.joint_names)))
        self.keypoint_flip = None if keypoint_set is None else torch.as_tensor(keypoint_set.flip)

    def pose(self, pose: torch.Tensor) -> torch.Tensor:
        """(B, J, 3) axis-angle pose of the mirror-image animal (root in the camera frame)."""
        local = pose[:, self.joint_flip.to(pose.device)] * _LOCAL_SIGN.to(pose)
        root = _CAMERA_FLIP.to(pose) @ axis_angle_to_matrix(pose[:, 0]) @ _MODEL_FLIP.to(pose)
        return torch.cat([matrix_to_axis_angle(root)[:, None], local[:, 1:]], dim=1)

    @torch.no_grad()
    def trans(self, trans: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        """Camera translation of the mirror image: ``F t + (F - I) j0`` with j0 the rest root joint."""
        device = self.model.faces.device
        root_joint = self.model.rest_joints(betas.float().to(device))[:, 0].to(trans)
        out = trans.clone()
        out[:, 0] = -trans[:, 0] - 2.0 * root_joint[:, 0]
        return out

    def keypoints(self, keypoints: torch.Tensor, size: int) -> torch.Tensor:
        """(B, K, 3) crop-pixel keypoints mirrored about the crop centre, left/right names swapped."""
        if self.keypoint_flip is None:
            raise ValueError("Mirror: flipping keypoints needs the keypoint set's mirror pairs")
        out = keypoints[:, self.keypoint_flip.to(keypoints.device)].clone()
        out[..., 0] = size - out[..., 0]
        return out

    def __call__(self, batch: Batch, which: torch.Tensor) -> Batch:
        """The batch with the samples where ``which`` (B,) is true mirrored."""
        if not bool(which.any()):
            return batch
        S = batch.images.shape[-1]
        sel = which.to(batch.images.device)

        def pick(flipped: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
            return torch.where(sel.reshape(-1, *([1] * (original.dim() - 1))), flipped, original)

        images = pick(batch.images.flip(-1), batch.images)
        masks = None if batch.masks is None else pick(batch.masks.flip(-1), batch.masks)
        keypoints = None if batch.keypoints is None else pick(self.keypoints(batch.keypoints, S), batch.keypoints)
        gt = batch.gt
        if gt is not None and "pose" in gt:
            gt = dict(gt)
            if "trans" in gt:
                gt["trans"] = pick(self.trans(gt["trans"], gt["betas"]), gt["trans"])
            gt["pose"] = pick(self.pose(gt["pose"]), gt["pose"])
        return batch.with_fields(images=images, keypoints=keypoints, masks=masks, gt=gt)
