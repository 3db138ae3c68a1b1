"""Mesh export for people: Wavefront OBJ per frame (readable by every 3D tool)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_obj(path: str | Path, vertices: np.ndarray, faces: np.ndarray) -> Path:
    """Write one triangle mesh; vertices (V,3) float, faces (F,3) 0-based int."""
    path = Path(path)
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"{path}: need vertices (V,3) and faces (F,3), got {vertices.shape} and {faces.shape}")
    lines = ["# smal4v mesh"]
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices]
    lines += [f"f {a} {b} {c}" for a, b, c in faces + 1]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".obj.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)
    return path


def read_obj(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read the vertices and triangle faces of an OBJ written by :func:`write_obj`."""
    vertices, faces = [], []
    for line in Path(path).read_text().splitlines():
        if line.startswith("v "):
            vertices.append([float(t) for t in line.split()[1:4]])
        elif line.startswith("f "):
            faces.append([int(t.split("/")[0]) - 1 for t in line.split()[1:4]])
    return np.array(vertices), np.array(faces, dtype=np.int64)


def write_obj_sequence(out_dir: str | Path, vertices: np.ndarray, faces: np.ndarray) -> list[Path]:
    """One OBJ per frame (``frame_000000.obj`` ...) for an (N,V,3) vertex sequence."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [write_obj(out_dir / f"frame_{i:06d}.obj", v, faces) for i, v in enumerate(vertices)]
