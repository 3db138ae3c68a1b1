"""The per-frame meshes of every variant of one video, read from its prediction artifacts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smal4v.data.artifacts import read_artifact
from smal4v.model import load_model_data


@dataclass(frozen=True)
class MeshSequence:
    """Triangles shared by all variants, each variant's (N, V, 3) camera-frame vertices (x right,
    y down, z forward) and the video's frame rate."""

    faces: np.ndarray
    vertices: dict[str, np.ndarray]
    fps: float

    @property
    def n_frames(self) -> int:
        """Frames per variant (the same for every variant)."""
        return len(next(iter(self.vertices.values())))


def checked_vertices(path: str, vertices: np.ndarray | None, faces: np.ndarray, n_frames: int | None) -> np.ndarray:
    """One variant's (N, V, 3) vertices as float32 after checking they exist, are finite, fit
    ``faces`` and (when given) have ``n_frames`` frames; errors name ``path``."""
    if vertices is None:
        raise ValueError(f"predictions {path}: no 'vertices' dataset, nothing to show in 3D")
    verts = np.asarray(vertices, dtype=np.float32)
    if verts.ndim != 3 or verts.shape[2] != 3 or verts.shape[1] <= faces.max():
        raise ValueError(f"predictions {path}: vertices {verts.shape} do not fit the model's faces "
                         f"(indices up to {faces.max()})")
    if n_frames is not None and len(verts) != n_frames:
        raise ValueError(f"predictions {path}: {len(verts)} frames, the other variants have {n_frames}")
    if not np.isfinite(verts).all():
        raise ValueError(f"predictions {path}: vertices contain non-finite values")
    return verts


def read_mesh_sequence(frames_path: str, predictions_paths: dict[str, str], model_spec: str) -> MeshSequence:
    """Collect the posed vertices of each variant's predictions of one video, checking that they
    cover the same frames and fit the model's faces; errors name the file."""
    fps = float(read_artifact(frames_path, "frames", [])["attrs"]["fps"])
    faces = np.asarray(load_model_data(model_spec).faces, dtype=np.int64)
    vertices: dict[str, np.ndarray] = {}
    for variant, path in predictions_paths.items():
        n_frames = len(next(iter(vertices.values()))) if vertices else None
        vertices[variant] = checked_vertices(path, read_artifact(path, "predictions", ["vertices"]).get("vertices"),
                                             faces, n_frames)
    if not vertices:
        raise ValueError(f"{frames_path}: no predictions given")
    return MeshSequence(faces, vertices, fps)
