"""Parameter heads: global feature (B, D) -> :class:`SMALParams`.

Every head starts (weights and bias noise N(0, ``init_std``)) at a sensible default so that
training begins from a plausible render (METHOD.md 2.2: head initialisation is decisive):

* pose: 6D per joint (continuous), bias = identity; the root is ``R_default @ R_6d`` where the
  default root rotation (``DEFAULT_ROOT_ROTATION``, +90 deg about x) is a **side view**: model
  x (forward) -> camera +x (right in the image), model z (up) -> camera -y (up in the image),
  model y (left) -> camera +z (away), i.e. we see the animal's right side, head to the right.
* betas: bias = shape-family mean (if given), so the initial shape is the family mean.
* limb log-scales (optional, 6): bias 0 (no scaling).
* translation: ``t = t0 + (dx * z, dy * z, z - z0)`` with ``z = z0 * exp(dz)``: image-plane
  shifts relative to depth, multiplicative depth; ``t0`` centres the animal (see
  :func:`default_translation`).
* focal: ``f = f0 * exp(df)``, f0 in crop pixels from config.
* view bins (optional, ``view_bins`` = K > 0; MultiBin, Mousavian et al. 2017): which way the
  animal faces is a classification over K azimuth bins (turns about the camera's vertical
  axis, bin 0 = the side view) plus the 6D residual within the bin: root = ``R_y(2 pi k / K)
  @ R_default @ R_6d``. A regressor that has not yet learned the view averages the modes
  (head left / head right) into a pose that fits neither; a classifier's cross-entropy keeps a
  steady gradient until the view is right. ``raw["view_bin"]`` (teacher forcing with the true
  bin in training) overrides the arg-max.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch import nn

from smal4v.nets.params import SMALParams
from smal4v.model.rotations import axis_angle_to_matrix, matrix_to_axis_angle, rotation_6d_to_matrix

DEFAULT_ROOT_ROTATION: tuple[float, float, float] = (math.pi / 2, 0.0, 0.0)
"""Axis-angle of the side view described in the module docstring."""

IDENTITY_6D = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
RAW_KEYS = ("pose6d", "betas", "limb_scale", "trans", "focal", "view_logits")


def default_translation(
    model: nn.Module, betas: torch.Tensor | None, root_rotation: Sequence[float], focal: float, image_size: int, fill: float
) -> tuple[float, float, float]:
    """Camera translation that centres the rest-pose mesh and makes its longest horizontal
    extent span ``fill`` of the crop width at focal ``focal`` (crop pixels).

    Uses the model's rest vertices (plus ``betas`` shape offset) and the fact that the global
    rotation turns about the rest root joint J0: ``v_cam = R (v - J0) + J0 + t``.
    """
    v = model.v_template.detach().double().cpu()
    if betas is not None and betas.numel():
        nb = betas.numel()
        v = v + torch.einsum("b,bvc->vc", betas.double().cpu(), model.shapedirs[:nb].detach().double().cpu())
    j0 = model.J_regressor[0].detach().double().cpu() @ v
    R = axis_angle_to_matrix(torch.tensor(root_rotation, dtype=torch.float64))
    vc = (v - j0) @ R.T + j0
    lo, hi = vc.min(0).values, vc.max(0).values
    centre = (lo + hi) / 2
    length = float(max(hi[0] - lo[0], hi[1] - lo[1]))
    z = focal * length / (fill * image_size) + float(hi[2] - lo[2]) / 2
    t = torch.tensor([0.0, 0.0, z], dtype=torch.float64) - centre
    return tuple(float(x) for x in t)  # type: ignore[return-value]


def azimuth_rotations(bins: int) -> torch.Tensor:
    """(K, 3, 3) turns by 2 pi k / K about the camera's vertical (y) axis."""
    phi = torch.arange(bins, dtype=torch.float64) * (2 * math.pi / bins)
    c, s, z, o = torch.cos(phi), torch.sin(phi), torch.zeros(bins, dtype=torch.float64), torch.ones(bins, dtype=torch.float64)
    return torch.stack((c, z, s, z, o, z, -s, z, c), -1).reshape(bins, 3, 3).float()


def view_bin_of(root: torch.Tensor, bins: int) -> torch.Tensor:
    """Azimuth bin (...,) long of root rotation matrices (..., 3, 3): the direction the model's
    forward axis (x) points to in the camera's horizontal plane, rounded to the nearest bin
    centre (bin 0 = the default side view, head to the right)."""
    forward = root[..., :, 0]
    phi = torch.atan2(-forward[..., 2], forward[..., 0])
    return torch.round(phi / (2 * math.pi / bins)).long() % bins


def _small_linear(din: int, dout: int, std: float, bias: Sequence[float] | np.ndarray | None = None) -> nn.Linear:
    lin = nn.Linear(din, dout)
    nn.init.normal_(lin.weight, 0.0, std)
    nn.init.normal_(lin.bias, 0.0, std)
    if bias is not None:
        with torch.no_grad():
            lin.bias.add_(torch.as_tensor(np.asarray(bias, dtype=np.float32).reshape(-1)))
    return lin


class SMALHeads(nn.Module):
    """Linear heads; ``raw`` gives the unconstrained outputs, ``decode`` maps them to SMALParams."""

    def __init__(
        self,
        feature_dim: int,
        num_joints: int = 35,
        num_betas: int = 20,
        use_limb_scale: bool = False,
        focal_default: float = 256.0,
        trans_default: Sequence[float] = (0.0, 0.0, 5.0),
        root_rotation: Sequence[float] = DEFAULT_ROOT_ROTATION,
        betas_mean: Sequence[float] | np.ndarray | None = None,
        init_std: float = 1e-3,
        view_bins: int = 0,
    ) -> None:
        super().__init__()
        self.feature_dim, self.num_joints, self.num_betas = feature_dim, num_joints, num_betas
        self.use_limb_scale = use_limb_scale
        self.pose = _small_linear(feature_dim, num_joints * 6, init_std, np.tile(IDENTITY_6D, num_joints))
        if betas_mean is not None:
            betas_mean = np.asarray(betas_mean, dtype=np.float32).reshape(-1)[:num_betas]
            if betas_mean.shape[0] != num_betas:
                raise ValueError(f"betas_mean has {betas_mean.shape[0]} entries, need {num_betas}")
        self.betas = _small_linear(feature_dim, num_betas, init_std, betas_mean)
        self.limb_scale = _small_linear(feature_dim, 6, init_std) if use_limb_scale else None
        self.trans = _small_linear(feature_dim, 3, init_std)
        self.focal = _small_linear(feature_dim, 1, init_std)
        self.view_bins = int(view_bins)
        self.view = _small_linear(feature_dim, self.view_bins, init_std) if self.view_bins > 0 else None
        if self.view_bins > 0:
            self.register_buffer("bin_rotations", azimuth_rotations(self.view_bins))
        self.register_buffer("focal_default", torch.tensor(float(focal_default)))
        self.register_buffer("trans_default", torch.tensor([float(x) for x in trans_default]))
        self.register_buffer("root_offset", axis_angle_to_matrix(torch.tensor([float(x) for x in root_rotation])))

    def raw(self, feature: torch.Tensor) -> dict[str, torch.Tensor | None]:
        """Unconstrained outputs for features (..., D): pose6d (..., J, 6), betas, limb_scale,
        trans (..., 3), focal (..., 1), view_logits (..., K) or None."""
        return {
            "pose6d": self.pose(feature).unflatten(-1, (self.num_joints, 6)),
            "betas": self.betas(feature),
            "limb_scale": self.limb_scale(feature) if self.limb_scale is not None else None,
            "trans": self.trans(feature),
            "focal": self.focal(feature),
            "view_logits": self.view(feature) if self.view is not None else None,
        }

    def root_offset_of(self, raw: dict[str, torch.Tensor | None]) -> torch.Tensor:
        """Fixed part of the root rotation, (3, 3) or (..., 3, 3) with view bins: the bin's turn
        (``raw["view_bin"]`` if given, else the arg-max of the logits) after the default view."""
        if self.view_bins == 0:
            return self.root_offset
        logits = raw["view_logits"]
        bins = raw.get("view_bin")
        if bins is None:
            bins = logits.argmax(-1)  # type: ignore[union-attr]
        return self.bin_rotations[bins] @ self.root_offset

    def decode(self, raw: dict[str, torch.Tensor | None]) -> SMALParams:
        """Map raw outputs to SMALParams (axis-angle pose with the default root offset and, with
        view bins, the bin's turn; ``raw["root_turn"]`` (3, 3), if given, turns the body in its own
        frame after the predicted root rotation)."""
        R = rotation_6d_to_matrix(raw["pose6d"])  # type: ignore[arg-type]
        root = self.root_offset_of(raw) @ R[..., 0, :, :]
        if raw.get("root_turn") is not None:
            root = root @ raw["root_turn"]  # a fixed turn of the body about its own axes (online view hypotheses)
        R = torch.cat((root.unsqueeze(-3), R[..., 1:, :, :]), dim=-3)
        d = raw["trans"]
        z0 = self.trans_default[2]
        z = z0 * torch.exp(d[..., 2])  # type: ignore[index]
        trans = torch.stack(
            (self.trans_default[0] + d[..., 0] * z, self.trans_default[1] + d[..., 1] * z, z), dim=-1  # type: ignore[index]
        )
        focal = self.focal_default * torch.exp(raw["focal"][..., 0])  # type: ignore[index]
        return SMALParams(
            betas=raw["betas"],  # type: ignore[arg-type]
            pose=matrix_to_axis_angle(R),
            trans=trans,
            focal=focal,
            limb_scale=raw["limb_scale"],
        )

    def forward(self, feature: torch.Tensor) -> SMALParams:
        return self.decode(self.raw(feature))
