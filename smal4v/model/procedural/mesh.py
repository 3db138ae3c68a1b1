"""Meshing the smooth-union SDF into one closed, consistently oriented triangle surface."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from skimage.measure import marching_cubes

from smal4v.model.procedural.primitives import Primitive, union_sdf


def vertex_adjacency(faces: np.ndarray, num_vertices: int) -> sp.csr_matrix:
    """Symmetric 0/1 vertex adjacency (V, V) from triangle edges."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    a = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(num_vertices, num_vertices)).tocsr()
    a = ((a + a.T) > 0).astype(np.float64)
    return a.tocsr()


def largest_component(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep only the largest connected piece (by vertex count); reindex faces."""
    _, labels = connected_components(vertex_adjacency(faces, len(vertices)), directed=False)
    used = np.zeros(len(vertices), bool)
    used[faces.ravel()] = True
    counts = np.bincount(labels[used])
    keep = labels == np.argmax(counts)
    keep &= used
    new_id = -np.ones(len(vertices), np.int64)
    new_id[keep] = np.arange(keep.sum())
    faces = new_id[faces]
    faces = faces[(faces >= 0).all(1)]
    return vertices[keep], faces


def taubin_smooth(vertices: np.ndarray, faces: np.ndarray, iterations: int, lam: float, mu: float) -> np.ndarray:
    """Taubin lambda/mu smoothing with the uniform Laplacian (moves vertices, keeps topology)."""
    a = vertex_adjacency(faces, len(vertices))
    deg = np.asarray(a.sum(1)).ravel()
    avg = sp.diags(1.0 / deg) @ a
    v = vertices.copy()
    for _ in range(iterations):
        v = v + lam * (avg @ v - v)
        v = v + mu * (avg @ v - v)
    return v


def mirror_partners(vertices: np.ndarray, tol: float) -> np.ndarray | None:
    """Index of each vertex's mirror image (y -> -y) within ``tol``, or None if not a perfect involution."""
    dist, idx = cKDTree(vertices).query(vertices * np.array([1.0, -1.0, 1.0]))
    if dist.max() > tol or not np.array_equal(idx[idx], np.arange(len(vertices))):
        return None
    return idx


def symmetrize(vertices: np.ndarray, partners: np.ndarray) -> np.ndarray:
    """Average each vertex with its partner's mirror image: exactly left/right symmetric positions."""
    mirrored = vertices[partners] * np.array([1.0, -1.0, 1.0])
    out = 0.5 * (vertices + mirrored)
    out[partners == np.arange(len(vertices)), 1] = 0.0
    return out


def signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Enclosed volume; positive when faces are counter-clockwise seen from outside."""
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


def mesh_sdf(prims: list[Primitive], voxel: float, padding: int) -> tuple[np.ndarray, np.ndarray]:
    """Marching cubes of the primitives' smooth union on a grid symmetric about y = 0.

    Returns the largest connected component with outward (counter-clockwise) faces.
    """
    lo = np.min([np.minimum(p.a[0], p.b[0]) - max(p.ra[0], p.rb[0]) for p in prims], axis=0)
    hi = np.max([np.maximum(p.a[0], p.b[0]) + max(p.ra[0], p.rb[0]) for p in prims], axis=0)
    ymax = max(abs(lo[1]), abs(hi[1]))
    lo[1], hi[1] = -ymax, ymax
    counts = np.ceil((hi - lo) / voxel).astype(int) + 2 * padding + 1
    axes = [lo[i] - padding * voxel + voxel * np.arange(counts[i]) for i in range(3)]
    axes[1] = voxel * (np.arange(counts[1]) - (counts[1] - 1) / 2.0)  # exactly mirror-symmetric samples
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    sdf = union_sdf(prims, grid).reshape(counts)
    sdf = 0.5 * (sdf + sdf[:, ::-1, :])  # exactly symmetric (the sequential smooth union is not quite)
    sdf[sdf == 0.0] = 1e-9  # no vertex exactly on a grid node: avoids degenerate triangles
    verts, faces, _, _ = marching_cubes(sdf, level=0.0, spacing=(voxel, voxel, voxel))
    verts = verts + np.array([axes[0][0], axes[1][0], axes[2][0]])
    faces = faces.astype(np.int64)
    verts, faces = largest_component(verts, faces)
    if signed_volume(verts, faces) < 0:
        faces = faces[:, ::-1].copy()
    return verts, faces


def mesh_report(vertices: np.ndarray, faces: np.ndarray) -> dict[str, float | int | bool]:
    """Topology checks: closed 2-manifold, consistent orientation, Euler characteristic, volume."""
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    v = len(vertices)
    dkeys = directed[:, 0] * v + directed[:, 1]
    ukeys = np.minimum(directed[:, 0], directed[:, 1]) * v + np.maximum(directed[:, 0], directed[:, 1])
    _, ucount = np.unique(ukeys, return_counts=True)
    _, dcount = np.unique(dkeys, return_counts=True)
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    degenerate = (faces[:, 0] == faces[:, 1]) | (faces[:, 1] == faces[:, 2]) | (faces[:, 0] == faces[:, 2])
    return {
        "vertices": v,
        "faces": len(faces),
        "edges": len(ucount),
        "closed_manifold": bool(np.all(ucount == 2)),
        "oriented": bool(np.all(dcount == 1)),
        "euler": int(v - len(ucount) + len(faces)),
        "min_area": float(area.min()),
        "degenerate_faces": int(degenerate.sum() + (area <= 1e-12).sum()),
        "signed_volume": signed_volume(vertices, faces),
        "unused_vertices": int(v - len(np.unique(faces))),
    }
