"""Plain-numpy description of a SMAL-compatible body model, shared by every model source.

Both the licensed SMAL pickle loader and the procedural quadruped builder produce a
:class:`ModelData`; :class:`smal4v.model.AnimalModel` turns it into a torch module. Keeping
the exchange format in numpy keeps the sources free of torch and easy to cache (``.npz``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np


@dataclass
class ShapeFamily:
    """A Gaussian over betas for one animal family (e.g. dog); ``cov`` may be rank-deficient."""

    name: str
    mean: np.ndarray  # (n_betas,)
    cov: np.ndarray  # (n_betas, n_betas)


@dataclass
class PosePrior:
    """Gaussian over the flattened axis-angle pose (J*3,) with the root rotation excluded.

    ``precision_chol`` is a lower-triangular L with L @ L.T = inverse covariance, so the energy
    is ``|| (theta - mean) @ L ||^2`` with the first 3 output columns (root) zeroed.
    ``limits`` holds per-joint, per-axis [min, max] axis-angle bounds, shape (J, 3, 2).
    """

    mean: np.ndarray  # (J*3,)
    precision_chol: np.ndarray  # (J*3, J*3)
    limits: np.ndarray  # (J, 3, 2)


@dataclass
class ModelData:
    """Arrays of a linear-blend-skinned animal model in the SMAL layout.

    Shapes: V vertices, F faces, J joints, B shape components.
    ``shapedirs`` is (B, V, 3); ``posedirs`` is ((J-1)*9, V, 3) (may be all zero);
    ``J_regressor`` (J, V) dense; ``weights`` (V, J) rows sum to 1; ``parents`` (J,) with -1 at the
    root; ``faces`` (F, 3) int, counter-clockwise seen from outside (outward normals).
    ``surface_points`` maps names such as ``nose``, ``chin``, ``left_ear_tip``, ``right_ear_tip``,
    ``left_eye``, ``right_eye`` to vertex ids.
    """

    v_template: np.ndarray
    shapedirs: np.ndarray
    posedirs: np.ndarray
    J_regressor: np.ndarray
    weights: np.ndarray
    parents: np.ndarray
    faces: np.ndarray
    joint_names: list[str]
    surface_points: dict[str, int] = field(default_factory=dict)
    shape_families: list[ShapeFamily] = field(default_factory=list)
    pose_prior: PosePrior | None = None
    source: str = ""

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def num_joints(self) -> int:
        return int(self.parents.shape[0])

    @property
    def num_betas(self) -> int:
        return int(self.shapedirs.shape[0])

    def validate(self) -> None:
        """Raise ValueError naming the first inconsistent array (wrong shape, bad weights)."""
        V, J = self.num_vertices, self.num_joints
        expected = {
            "v_template": (V, 3),
            "shapedirs": (self.num_betas, V, 3),
            "posedirs": ((J - 1) * 9, V, 3),
            "J_regressor": (J, V),
            "weights": (V, J),
            "parents": (J,),
        }
        for name, shape in expected.items():
            got = tuple(getattr(self, name).shape)
            if got != shape:
                raise ValueError(f"model {self.source!r}: {name} has shape {got}, expected {shape}")
        if self.faces.ndim != 2 or self.faces.shape[1] != 3:
            raise ValueError(f"model {self.source!r}: faces has shape {self.faces.shape}, expected (F, 3)")
        if self.faces.min() < 0 or self.faces.max() >= V:
            raise ValueError(f"model {self.source!r}: faces index outside [0, {V})")
        if len(self.joint_names) != J:
            raise ValueError(f"model {self.source!r}: {len(self.joint_names)} joint names for {J} joints")
        if not np.allclose(self.weights.sum(1), 1.0, atol=1e-4):
            raise ValueError(f"model {self.source!r}: skinning weights do not sum to 1 per vertex")
        if self.parents[0] != -1 or np.any(self.parents[1:] >= np.arange(1, J)):
            raise ValueError(f"model {self.source!r}: parents must list a joint after its parent, root first")

    def save_npz(self, path: str | Path) -> None:
        """Write every field to one compressed ``.npz`` (families and prior flattened)."""
        arrays: dict[str, np.ndarray] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "joint_names":
                arrays[f.name] = np.array(value)
            elif f.name == "surface_points":
                arrays["surface_point_names"] = np.array(list(value.keys()), dtype=str)
                arrays["surface_point_ids"] = np.array(list(value.values()), dtype=np.int64)
            elif f.name == "shape_families":
                arrays["family_names"] = np.array([s.name for s in value], dtype=str)
                arrays["family_means"] = np.array([s.mean for s in value]).reshape(len(value), -1)
                arrays["family_covs"] = np.array([s.cov for s in value]).reshape(len(value), self.num_betas, self.num_betas)
            elif f.name == "pose_prior":
                if value is not None:
                    arrays["pose_mean"] = value.mean
                    arrays["pose_precision_chol"] = value.precision_chol
                    arrays["pose_limits"] = value.limits
            elif f.name == "source":
                arrays["source"] = np.array(value)
            else:
                arrays[f.name] = value
        tmp = Path(f"{path}.tmp-{os.getpid()}.npz")  # per process: parallel builders never collide
        np.savez_compressed(tmp, **arrays)
        tmp.replace(path)

    @classmethod
    def load_npz(cls, path: str | Path) -> "ModelData":
        """Read a file written by :meth:`save_npz`."""
        with np.load(path, allow_pickle=False) as z:
            families = [
                ShapeFamily(str(n), z["family_means"][i], z["family_covs"][i])
                for i, n in enumerate(z["family_names"])
            ]
            prior = None
            if "pose_mean" in z:
                prior = PosePrior(z["pose_mean"], z["pose_precision_chol"], z["pose_limits"])
            return cls(
                v_template=z["v_template"],
                shapedirs=z["shapedirs"],
                posedirs=z["posedirs"],
                J_regressor=z["J_regressor"],
                weights=z["weights"],
                parents=z["parents"],
                faces=z["faces"],
                joint_names=[str(n) for n in z["joint_names"]],
                surface_points={str(n): int(i) for n, i in zip(z["surface_point_names"], z["surface_point_ids"])},
                shape_families=families,
                pose_prior=prior,
                source=str(z["source"]),
            )


SMAL_JOINT_NAMES: list[str] = [
    "root", "pelvis0", "spine", "spine0", "spine1", "spine2", "spine3",
    "LLeg1", "LLeg2", "LLeg3", "LFoot", "RLeg1", "RLeg2", "RLeg3", "RFoot",
    "Neck", "Head",
    "LLegBack1", "LLegBack2", "LLegBack3", "LFootBack",
    "RLegBack1", "RLegBack2", "RLegBack3", "RFootBack",
    "Tail1", "Tail2", "Tail3", "Tail4", "Tail5", "Tail6", "Tail7",
    "Mouth", "LEar", "REar",
]
"""SMAL's 35 joint names in id order (METHOD.md 1.1); ids 0-32 match the 33-joint model."""


def flip_permutation(names: list[str]) -> np.ndarray:
    """Index of each name's left/right counterpart (SMAL naming: ``L``/``R`` before a capital
    letter, e.g. ``LLeg1``/``RLeg1``), else itself. Used by the procedural builder and the
    flip augmentation."""
    index = {n: i for i, n in enumerate(names)}
    swap = {"L": "R", "R": "L"}
    out = []
    for n in names:
        mirrored = swap[n[0]] + n[1:] if len(n) > 1 and n[0] in swap and n[1].isupper() else n
        out.append(index.get(mirrored, index[n]))
    return np.array(out)
