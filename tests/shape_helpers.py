"""Helpers of the shape-offset tests: a shape the model's shape space lacks, and hard-mask IoU."""

from __future__ import annotations

import numpy as np
import torch

from smal4v.model.surface_offsets import rest_normals


def back_bump(model: torch.nn.Module, height: float) -> torch.Tensor:
    """A smooth symmetric bump on the back (the +z side of the mid-body): offsets (V, 3)."""
    rest = model.v_template.detach()
    normals = rest_normals(rest, model.faces)
    centre = torch.tensor([0.0, 0.0, float(rest[:, 2].max())])
    weight = torch.exp(-((rest - centre) ** 2).sum(1) / (2 * 0.12**2))
    return (height * weight)[:, None] * normals


def mean_iou(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Mean IoU of boolean masks (N, H, W)."""
    return float(np.mean([float((p & t).sum()) / float((p | t).sum()) for p, t in zip(pred, target)]))


def normal_heights(model: torch.nn.Module, offsets: torch.Tensor) -> np.ndarray:
    """Signed length (V,) of offsets (V, 3) along the template's normals."""
    return (offsets * rest_normals(model.v_template, model.faces)).sum(1).numpy()
