"""Synthetic animals outside the model's shape space: smooth, symmetric per-animal vertex offsets.

A shape-space sample explains a synthetic animal exactly, so a network that refines the mesh
beyond the shape space (Coarse-to-fine's GCN) would have nothing to learn from it. Real animals
differ from the space in ways C2F names (humps, fur volume, thick necks, ears);
:func:`off_model_offsets` draws such differences per animal on its rest mesh:

* hump: a bump raising the upper back;
* belly: the underside of the trunk pushed down (or pulled in);
* neck and leg thickness: vertices skinned to the neck / leg bones moved away from (or towards)
  the bone segments;
* ear size: ear vertices scaled about the ear joint.

Each is weighted by smooth functions (Gaussians, skinning weights), the sum is averaged with its
left/right mirror, and the result is added to the template before posing, like C2F's ``del_v``
(:func:`with_offsets`), so the synthetic ground truth stays a posed model mesh.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from smal4v.model.procedural.mesh import mirror_partners

LEG_PARTS = ("Leg1", "Leg2", "Leg3", "LegBack1", "LegBack2", "LegBack3")
RANGES: dict[str, tuple[float, float]] = {
    "hump": (0.0, 0.07),  # height, fraction of the body length
    "belly": (-0.02, 0.05),  # drop of the underside, fraction of the body length
    "neck": (-0.1, 0.4),  # relative change of the neck's radius
    "legs": (-0.1, 0.35),  # relative change of the legs' radius
    "ears": (-0.2, 0.6),  # relative change of the ears' size
}
"""Per-animal uniform ranges of each displacement at ``scale`` 1."""


def _segment_offsets(points: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Vectors (V, 3) from the closest point of segment start-end to each point."""
    axis = end - start
    t = np.clip(((points - start) @ axis) / max(float(axis @ axis), 1e-12), 0.0, 1.0)
    return points - (start + t[:, None] * axis)


def _bone_thickness(rest: np.ndarray, joints: np.ndarray, weights: np.ndarray, parents: np.ndarray,
                    ids: list[int]) -> np.ndarray:
    """Radial directions (V, 3) away from the bones of joints ``ids`` (joint to its first child),
    weighted by each vertex's skinning weight on those joints."""
    out = np.zeros_like(rest)
    for j in ids:
        children = np.flatnonzero(parents == j)
        end = joints[children[0]] if len(children) else joints[j]
        out += weights[:, j : j + 1] * _segment_offsets(rest, joints[j], end)
    return out


def off_model_offsets(model: nn.Module, betas: np.ndarray, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """Smooth, left/right symmetric offsets (V, 3) of one animal on ``model``'s rest mesh at ``betas``
    (see the module docstring); magnitudes drawn from :data:`RANGES` times ``scale``."""
    amount = {k: scale * float(rng.uniform(lo, hi)) for k, (lo, hi) in RANGES.items()}
    with torch.no_grad():
        b = torch.as_tensor(np.asarray(betas, np.float32))[None]
        out = model(b, torch.zeros(1, int(model.num_joints), 3))
    rest = out.vertices[0].numpy().astype(np.float64)
    joints = out.joints[0].numpy().astype(np.float64)
    weights = model.weights.numpy().astype(np.float64)
    parents = model.parents.numpy()
    names = {n: i for i, n in enumerate(model.joint_names)}
    length = float(np.ptp(rest[:, 0]))
    x, y, z = rest.T
    offsets = np.zeros_like(rest)
    spine = [names[n] for n in ("spine", "spine0", "spine1", "spine2", "spine3") if n in names]
    trunk_top = joints[spine, 2].mean() if spine else float(np.median(z))
    trunk_x = joints[spine, 0].mean() if spine else float(np.median(x))
    width = 0.12 * length
    trunk = np.exp(-((x - trunk_x) / (1.5 * width)) ** 2 - (y / width) ** 2)
    upper = 1.0 / (1.0 + np.exp(-(z - trunk_top) / (0.03 * length)))
    offsets[:, 2] += amount["hump"] * length * trunk * upper
    lower = 1.0 / (1.0 + np.exp((z - trunk_top + 0.1 * length) / (0.03 * length)))
    offsets[:, 2] -= amount["belly"] * length * trunk * lower * np.exp(-((x - trunk_x) / (2.0 * width)) ** 2)
    neck = [names[n] for n in ("Neck",) if n in names]
    offsets += amount["neck"] * _bone_thickness(rest, joints, weights, parents, neck)
    legs = [names[s + p] for s in ("L", "R") for p in LEG_PARTS if s + p in names]
    offsets += amount["legs"] * _bone_thickness(rest, joints, weights, parents, legs)
    for ear in ("LEar", "REar"):
        if ear in names:
            j = names[ear]
            offsets += amount["ears"] * weights[:, j : j + 1] * (rest - joints[j])
    partners = mirror_partners(rest, 1e-3 * length)
    if partners is not None:
        offsets = 0.5 * (offsets + offsets[partners] * np.array([1.0, -1.0, 1.0]))
    return offsets.astype(np.float32)


def with_offsets(model: nn.Module, offsets: np.ndarray) -> nn.Module:
    """A copy of ``model`` whose template carries ``offsets`` (V, 3): every forward pass then
    equals ``model(..., delta_v=offsets)``."""
    shifted = copy.deepcopy(model)
    with torch.no_grad():
        shifted.v_template += torch.as_tensor(offsets, dtype=shifted.v_template.dtype)
    return shifted
