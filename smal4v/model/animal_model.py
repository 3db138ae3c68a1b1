"""SMAL-compatible linear-blend-skinned animal model as a torch module (METHOD.md 1.7).

The forward pass follows WLDO / C2F exactly: shape blend, joint regression from the shaped
template, Rodrigues, pose blend, kinematic chain with optional limb scaling
(``S_parent^-1 R S_child``), skinning, translation; output joints are re-regressed from the posed
vertices, then surface points (nose, ears, ...) are appended. It is batched, device-agnostic,
and follows the dtype of its inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from smal4v.model.model_data import ModelData, PosePrior, ShapeFamily
from smal4v.model.rotations import axis_angle_to_matrix

__all__ = ["AnimalModel", "ModelOutput", "LIMB_SCALE_GROUPS", "limb_scale_mask"]


@dataclass
class ModelOutput:
    """Result of :meth:`AnimalModel.forward`; ``points`` = joints then surface points."""

    vertices: torch.Tensor  # (B, V, 3)
    joints: torch.Tensor  # (B, J, 3)
    points: torch.Tensor  # (B, J + S, 3)


_LEGS = [f"{side}{part}" for side in ("L", "R") for part in ("Leg1", "Leg2", "Leg3", "Foot")] + [
    f"{side}{part}" for side in ("L", "R") for part in ("LegBack1", "LegBack2", "LegBack3", "FootBack")
]
_TAIL = [f"Tail{i}" for i in range(1, 8)]
_EARS = ["LEar", "REar"]

LIMB_SCALE_GROUPS: list[tuple[list[str], list[int]]] = [
    (_LEGS, [2]),  # 0: leg length
    (_LEGS, [0, 1]),  # 1: leg girth
    (_TAIL, [0]),  # 2: tail length
    (_TAIL, [1, 2]),  # 3: tail girth
    (_EARS, [1]),  # 4: ear y
    (_EARS, [2]),  # 5: ear z
]
"""WLDO's 6 limb log-scales: (joint names, scaled local axes) per entry (METHOD.md 1.7)."""


def limb_scale_mask(joint_names: list[str]) -> np.ndarray:
    """0/1 mask (6, J, 3) mapping the 6 limb log-scales to per-joint, per-axis log-scales.

    Built from joint *names*, so any model using SMAL's names gets the same scaling; joints a
    model lacks are simply not scaled.
    """
    index = {n: i for i, n in enumerate(joint_names)}
    mask = np.zeros((len(LIMB_SCALE_GROUPS), len(joint_names), 3), dtype=np.float32)
    for k, (names, axes) in enumerate(LIMB_SCALE_GROUPS):
        for name in names:
            if name in index:
                mask[k, index[name], axes] = 1.0
    return mask


def _apply_per_vertex(M: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``M (N, K) @ x (B, K, C)`` -> (B, N, C) as one 2D matmul (much faster than a broadcast bmm)."""
    B, K, C = x.shape
    out = M @ x.permute(1, 0, 2).reshape(K, B * C)
    return out.reshape(M.shape[0], B, C).permute(1, 0, 2).contiguous()


class AnimalModel(nn.Module):
    """Linear-blend-skinned quadruped with SMAL's parameterisation; build with :meth:`from_data`."""

    v_template: torch.Tensor
    shapedirs: torch.Tensor
    posedirs: torch.Tensor
    J_regressor: torch.Tensor
    weights: torch.Tensor
    parents: torch.Tensor
    faces: torch.Tensor

    def __init__(self, data: ModelData, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        data.validate()
        self.source = data.source
        self.joint_names: list[str] = list(data.joint_names)
        self.surface_point_names: list[str] = list(data.surface_points.keys())
        self.surface_point_ids: list[int] = [int(i) for i in data.surface_points.values()]
        self.point_names: list[str] = self.joint_names + self.surface_point_names
        self._point_index = {n: i for i, n in enumerate(self.point_names)}
        if len(self._point_index) != len(self.point_names):
            raise ValueError(f"model {data.source!r}: duplicate joint / surface point names")
        self.shape_families: list[ShapeFamily] = list(data.shape_families)
        self.pose_prior: PosePrior | None = data.pose_prior
        self.num_betas = data.num_betas
        self.num_joints = data.num_joints
        self.num_vertices = data.num_vertices

        def f(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.asarray(a), dtype=dtype)

        self.register_buffer("v_template", f(data.v_template))
        self.register_buffer("shapedirs", f(data.shapedirs))
        self.register_buffer("posedirs", f(data.posedirs))
        self.register_buffer("J_regressor", f(data.J_regressor))
        self.register_buffer("weights", f(data.weights))
        self.register_buffer("parents", torch.as_tensor(np.asarray(data.parents), dtype=torch.long))
        self.register_buffer("faces", torch.as_tensor(np.asarray(data.faces), dtype=torch.long))
        self.register_buffer("surface_ids", torch.as_tensor(self.surface_point_ids, dtype=torch.long), persistent=False)
        self.register_buffer("limb_mask", f(limb_scale_mask(self.joint_names)).reshape(6, -1), persistent=False)
        self.has_pose_blend = bool(np.any(np.asarray(data.posedirs) != 0))
        self._build_levels(np.asarray(data.parents))

    @classmethod
    def from_data(cls, data: ModelData, dtype: torch.dtype = torch.float32) -> "AnimalModel":
        """Module holding ``data``'s arrays as buffers (float32 by default)."""
        return cls(data, dtype=dtype)

    def _build_levels(self, parents: np.ndarray) -> None:
        """Group joints by tree depth so the kinematic chain runs one batched step per level.

        Joints are processed in "level order"; ``_lvl{k}`` holds the joint ids of depth k and
        ``_lvlpar{k}`` the level-order positions of their parents; ``_inv_order`` maps back to ids.
        """
        depth = np.zeros(len(parents), dtype=np.int64)
        for j in range(1, len(parents)):
            depth[j] = depth[parents[j]] + 1
        order: list[int] = []
        self._num_levels = int(depth.max()) + 1
        for k in range(self._num_levels):
            ids = np.nonzero(depth == k)[0]
            pos = {j: i for i, j in enumerate(order)}
            self.register_buffer(f"_lvl{k}", torch.as_tensor(ids, dtype=torch.long), persistent=False)
            par = [pos[int(parents[j])] for j in ids] if k > 0 else []
            self.register_buffer(f"_lvlpar{k}", torch.as_tensor(par, dtype=torch.long), persistent=False)
            order.extend(int(j) for j in ids)
        self.register_buffer("_inv_order", torch.as_tensor(np.argsort(order), dtype=torch.long), persistent=False)

    def point_index(self, name: str) -> int:
        """Index of a joint or surface point in ``point_names`` (and in ``ModelOutput.points``)."""
        try:
            return self._point_index[name]
        except KeyError:
            raise KeyError(
                f"model {self.source!r} has no point named {name!r}; known: {', '.join(self.point_names)}"
            ) from None

    def _pose_matrices(self, pose: torch.Tensor, batch: int) -> torch.Tensor:
        J = self.num_joints
        if pose.dim() == 2 and pose.shape[1] == J * 3:
            pose = pose.reshape(batch, J, 3)
        if pose.shape[1:] == (J, 3):
            return axis_angle_to_matrix(pose)
        if pose.shape[1:] == (J, 3, 3):
            return pose
        raise ValueError(f"pose must be (B, {J}, 3) axis-angle or (B, {J}, 3, 3) matrices, got {tuple(pose.shape)}")

    def shaped_vertices(self, betas: torch.Tensor, delta_v: torch.Tensor | None = None) -> torch.Tensor:
        """Rest-pose mesh (B, V, 3) of ``betas`` (B, n <= num_betas), plus ``delta_v`` if given."""
        B, nb = betas.shape
        if nb > self.num_betas:
            raise ValueError(f"got {nb} betas, model {self.source!r} has {self.num_betas}")
        dtype, V = betas.dtype, self.num_vertices  # .to(dtype) returns the buffer itself when it matches
        v_shaped = self.v_template.to(dtype) + (betas @ self.shapedirs[:nb].to(dtype).reshape(nb, V * 3)).reshape(B, V, 3)
        return v_shaped if delta_v is None else v_shaped + delta_v

    def rest_joints(self, betas: torch.Tensor) -> torch.Tensor:
        """Joints (B, J, 3) of the rest-pose mesh of ``betas``: the pivots of the joint rotations
        (the root rotation turns the body about joint 0), without skinning a posed mesh."""
        return _apply_per_vertex(self.J_regressor.to(betas.dtype), self.shaped_vertices(betas))

    def forward(
        self,
        betas: torch.Tensor,
        pose: torch.Tensor,
        trans: torch.Tensor | None = None,
        limb_scale: torch.Tensor | None = None,
        delta_v: torch.Tensor | None = None,
    ) -> ModelOutput:
        """Posed mesh, joints and points; see METHOD.md 1.7.

        betas (B, n <= num_betas) uses the first n shape components; pose (B, J, 3) axis-angle or
        (B, J, 3, 3); trans (B, 3); limb_scale (B, 6) log-scales (None: no scaling); delta_v (B, V, 3)
        per-vertex offsets added to the shaped template.
        """
        B = betas.shape[0]
        dtype = betas.dtype
        V, J = self.num_vertices, self.num_joints
        J_reg, weights = self.J_regressor.to(dtype), self.weights.to(dtype)
        # 1. shape blend
        v_shaped = self.shaped_vertices(betas, delta_v)
        # 2. joints of the shaped rest mesh
        rest_joints = _apply_per_vertex(J_reg, v_shaped)  # (B, J, 3)
        # 3. rotations
        R = self._pose_matrices(pose, B).to(dtype)
        # 4. pose blend shapes
        if self.has_pose_blend:
            eye = torch.eye(3, dtype=dtype, device=R.device)
            feat = (R[:, 1:] - eye).reshape(B, (J - 1) * 9)
            v_posed = v_shaped + (feat @ self.posedirs.to(dtype).reshape((J - 1) * 9, V * 3)).reshape(B, V, 3)
        else:
            v_posed = v_shaped
        # 5. kinematic chain: G_i = G_parent [S_p^-1 R_i S_i | J_i - J_p]
        if limb_scale is not None:
            scale = torch.exp(limb_scale.to(dtype) @ self.limb_mask.to(dtype)).reshape(B, J, 3)
            parents = self.parents.clamp_min(0)
            parent_scale = torch.where((self.parents < 0)[None, :, None], torch.ones_like(scale), scale[:, parents])
            R = R * scale[:, :, None, :] / parent_scale[:, :, :, None]
        G_rot, G_trans = self._chain(R, rest_joints)
        # relative transforms A_i = [G_rot | G_trans - G_rot J_i]
        A_trans = G_trans - (G_rot @ rest_joints[..., None])[..., 0]
        A = torch.cat([G_rot.reshape(B, J, 9), A_trans], dim=-1)  # (B, J, 12)
        # 6. linear blend skinning
        T = _apply_per_vertex(weights, A)  # (B, V, 12)
        T_rot = T[..., :9].reshape(B, V, 3, 3)
        vertices = (T_rot @ v_posed[..., None])[..., 0] + T[..., 9:]  # 1.8x faster than mul + sum, same bits
        if trans is not None:
            vertices = vertices + trans.to(dtype)[:, None, :]
        # 7. output joints from the posed mesh, then surface points
        joints = _apply_per_vertex(J_reg, vertices)
        points = torch.cat([joints, vertices[:, self.surface_ids]], dim=1)
        return ModelOutput(vertices=vertices, joints=joints, points=points)

    def _chain(self, R_local: torch.Tensor, rest_joints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """World rotation (B, J, 3, 3) and position (B, J, 3) of every joint frame, level by level."""
        rots: list[torch.Tensor] = []
        trans: list[torch.Tensor] = []
        for k in range(self._num_levels):
            ids = getattr(self, f"_lvl{k}")
            if k == 0:
                rots.append(R_local[:, ids])
                trans.append(rest_joints[:, ids])
                continue
            par_pos = getattr(self, f"_lvlpar{k}")
            done_rot = torch.cat(rots, dim=1)
            done_trans = torch.cat(trans, dim=1)
            p_rot, p_trans = done_rot[:, par_pos], done_trans[:, par_pos]
            offset = rest_joints[:, ids] - rest_joints[:, self.parents[ids]]
            rots.append(p_rot @ R_local[:, ids])
            trans.append(p_trans + (p_rot @ offset[..., None])[..., 0])
        inv = self._inv_order
        return torch.cat(rots, dim=1)[:, inv], torch.cat(trans, dim=1)[:, inv]

    def extra_repr(self) -> str:
        return (
            f"source={self.source!r}, vertices={self.num_vertices}, faces={self.faces.shape[0]}, "
            f"joints={self.num_joints}, betas={self.num_betas}, surface_points={self.surface_point_names}"
        )
