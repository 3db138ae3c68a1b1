"""Perspective pinhole camera shared by every renderer of the package.

Conventions (the package-wide ones, see ``smal4v/__init__.py``):

* Points given to :meth:`Camera.project` are already in the camera frame: x right, y down,
  z forward (away from the camera). No rotation or translation is applied here.
* The focal length is in pixels; the principal point is in pixels and defaults to the image
  centre ``(W/2, H/2)``.
* Pixel coordinates are ``(x, y)``: x right, y down. The centre of pixel ``(row i, col j)`` is
  at ``(j + 0.5, i + 0.5)``, so an image of width W spans ``[0, W]`` and its centre is W/2.
* ``u = f * X / Z + cx``, ``v = f * Y / Z + cy`` with Z clamped to ``min_depth`` (a small
  positive number) so points on or behind the camera plane do not produce inf/nan.
"""

from __future__ import annotations

from typing import Sequence

import torch

ImageSize = int | Sequence[int]


def as_hw(image_size: ImageSize) -> tuple[int, int]:
    """Return ``(H, W)`` from an int (square) or an ``(H, W)`` pair, validating it."""
    if isinstance(image_size, int):
        hw = (image_size, image_size)
    else:
        hw = tuple(int(s) for s in image_size)
        if len(hw) != 2:
            raise ValueError(f"image_size must be an int or (H, W), got {image_size!r}")
    if hw[0] <= 0 or hw[1] <= 0:
        raise ValueError(f"image_size must be positive, got {image_size!r}")
    return hw  # type: ignore[return-value]


class Camera:
    """Pinhole camera with per-batch focal length (pixels) and principal point (pixels).

    ``focal``: float or tensor of shape ``(B,)`` (or ``()``); ``principal``: ``(B, 2)`` or
    ``(2,)`` tensor in pixels ``(cx, cy)``, or None for the image centre.
    """

    def __init__(
        self,
        focal: float | torch.Tensor,
        image_size: ImageSize,
        principal: torch.Tensor | Sequence[float] | None = None,
        min_depth: float = 1e-6,
    ) -> None:
        self.image_size = as_hw(image_size)
        self.focal = torch.as_tensor(focal, dtype=torch.get_default_dtype()) if not isinstance(
            focal, torch.Tensor) else focal
        if self.focal.dim() > 1:
            raise ValueError(f"focal must be a float or a (B,) tensor, got shape {tuple(self.focal.shape)}")
        if principal is None:
            h, w = self.image_size
            principal = torch.tensor([w / 2.0, h / 2.0], dtype=self.focal.dtype, device=self.focal.device)
        self.principal = torch.as_tensor(principal, dtype=self.focal.dtype, device=self.focal.device) \
            if not isinstance(principal, torch.Tensor) else principal
        if self.principal.shape[-1] != 2 or self.principal.dim() > 2:
            raise ValueError(f"principal must be (2,) or (B, 2), got shape {tuple(self.principal.shape)}")
        self.min_depth = float(min_depth)

    @property
    def height(self) -> int:
        return self.image_size[0]

    @property
    def width(self) -> int:
        return self.image_size[1]

    def to(self, device: torch.device | str) -> "Camera":
        """Return a copy with focal and principal on ``device``."""
        return Camera(self.focal.to(device), self.image_size, self.principal.to(device), self.min_depth)

    def _per_batch(self, t: torch.Tensor, batch: int, trailing: int) -> torch.Tensor:
        """Broadcast a ``()``/``(B,)`` (trailing=0) or ``(2,)``/``(B,2)`` (trailing=1) parameter."""
        if t.dim() == trailing:
            return t.unsqueeze(0).expand(batch, *t.shape)
        if t.shape[0] not in (1, batch):
            raise ValueError(f"camera has batch {t.shape[0]} but the points have batch {batch}")
        return t.expand(batch, *t.shape[1:])

    def project(self, points_cam: torch.Tensor) -> torch.Tensor:
        """Project camera-frame points ``(B, N, 3)`` to pixel coordinates ``(B, N, 2)`` (x, y)."""
        xy, _ = self.project_with_depth(points_cam)
        return xy

    def project_with_depth(self, points_cam: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Like :meth:`project` but also return the clamped depth ``(B, N)``."""
        if points_cam.dim() != 3 or points_cam.shape[-1] != 3:
            raise ValueError(f"points_cam must be (B, N, 3), got shape {tuple(points_cam.shape)}")
        b = points_cam.shape[0]
        dt, dev = points_cam.dtype, points_cam.device
        f = self._per_batch(self.focal.to(dev, dt), b, 0)[:, None, None]
        c = self._per_batch(self.principal.to(dev, dt), b, 1)[:, None, :]
        z = points_cam[..., 2].clamp(min=self.min_depth)
        xy = f * points_cam[..., :2] / z[..., None] + c
        return xy, z
