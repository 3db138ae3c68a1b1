"""SMALParams: the parameter bundle every network predicts and every loss consumes."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Callable

import numpy as np
import torch


@dataclass
class SMALParams:
    """Body-model and camera parameters for a batch (leading dims ``...``; usually (B,)).

    betas (..., NB); pose (..., J, 3) axis-angle, joint 0 = global rotation model->camera;
    trans (..., 3) camera frame; focal (...) pixels of the crop; limb_scale (..., 6) log-scales
    or None.
    """

    betas: torch.Tensor
    pose: torch.Tensor
    trans: torch.Tensor
    focal: torch.Tensor
    limb_scale: torch.Tensor | None = None

    def apply(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> "SMALParams":
        """New SMALParams with ``fn`` applied to every tensor field (None stays None)."""
        return SMALParams(**{f.name: (None if getattr(self, f.name) is None else fn(getattr(self, f.name))) for f in fields(self)})

    def detach(self) -> "SMALParams":
        return self.apply(lambda t: t.detach())

    def to(self, device: str | torch.device) -> "SMALParams":
        return self.apply(lambda t: t.to(device))

    def __getitem__(self, idx: object) -> "SMALParams":
        return self.apply(lambda t: t[idx])  # type: ignore[index]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(self.focal.shape)

    def flatten(self) -> "SMALParams":
        """Merge all leading dims into one batch dim, e.g. (B, T) -> (B*T,)."""
        n = len(self.batch_shape)
        return self.apply(lambda t: t.reshape((-1,) + tuple(t.shape[n:])))

    def unflatten(self, shape: tuple[int, ...]) -> "SMALParams":
        """Inverse of :meth:`flatten` for a given leading shape."""
        return self.apply(lambda t: t.reshape(tuple(shape) + tuple(t.shape[1:])))

    @staticmethod
    def cat(items: list["SMALParams"], dim: int = 0) -> "SMALParams":
        """Concatenate along a leading dim; limb_scale must be present in all or none."""
        out = {}
        for f in fields(SMALParams):
            vals = [getattr(p, f.name) for p in items]
            if any(v is None for v in vals):
                if not all(v is None for v in vals):
                    raise ValueError(f"cannot concatenate SMALParams: {f.name} missing in some items")
                out[f.name] = None
            else:
                out[f.name] = torch.cat(vals, dim)
        return SMALParams(**out)

    def to_numpy(self) -> dict[str, np.ndarray]:
        """Dict of float32 arrays (limb_scale omitted when None), e.g. for HDF5 artifacts."""
        return {
            f.name: getattr(self, f.name).detach().cpu().numpy().astype(np.float32)
            for f in fields(self)
            if getattr(self, f.name) is not None
        }

    @staticmethod
    def from_numpy(d: dict[str, np.ndarray], device: str | torch.device = "cpu") -> "SMALParams":
        return SMALParams(
            **{
                f.name: (torch.as_tensor(np.asarray(d[f.name]), dtype=torch.float32, device=device) if d.get(f.name) is not None else None)
                for f in fields(SMALParams)
            }
        )
