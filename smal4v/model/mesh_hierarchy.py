"""Mesh hierarchy for the coarse-to-fine graph network (METHOD.md 1.4, 3.4).

Each level is a quadric decimation (the maintained ``fast-simplification`` library) of the one
above to about ``1 / factor`` of its vertices, as C2F's COMA-built ``mesh_down_sampling_4.npz``
(SMAL: 3889 -> 973 -> 244 -> 61 -> 16). Per step from a fine level to the next coarser one:

* ``D`` (coarse x fine): plain vertex selection, one 1 per row: the coarse mesh's vertices are
  the vertices of the fine mesh that survive decimation (the edge collapses are replayed to
  know which), at their original positions;
* ``U`` (fine x coarse): every fine vertex as the barycentric combination of the coarse
  triangle its closest point lies on (3 non-zeros per row; a selected vertex maps to itself);
* the adjacency of every level from its faces.

Decimation is deterministic. It is not left/right symmetric: neither the decimator nor the
procedural mesh's triangulation is (:func:`selection_asymmetry` measures it); the graph
network symmetrises its full-resolution offsets instead. A hierarchy file records the hash of
the model mesh it was built from, so a cached file is never used with another model.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from smal4v.model.procedural.mesh import vertex_adjacency

FORMAT_VERSION = 1


def mesh_hash(vertices: np.ndarray, faces: np.ndarray, levels: int, factor: float) -> str:
    """sha256 of a mesh (float64 vertices, int64 faces) and the decimation settings: the cache key."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(vertices, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(faces, dtype=np.int64).tobytes())
    h.update(f"v{FORMAT_VERSION} levels={int(levels)} factor={float(factor):g}".encode())
    return h.hexdigest()


@dataclass
class MeshHierarchy:
    """``vertices[k]``/``faces[k]`` of level k (0 = the model mesh); ``down[k]`` maps level k to
    k + 1 and ``up[k]`` level k + 1 back to k (scipy CSR); ``key`` = :func:`mesh_hash`."""

    vertices: list[np.ndarray]
    faces: list[np.ndarray]
    down: list[sp.csr_matrix]
    up: list[sp.csr_matrix]
    key: str

    @property
    def sizes(self) -> list[int]:
        """Vertex count of every level, finest first."""
        return [len(v) for v in self.vertices]

    def adjacency(self, level: int) -> sp.csr_matrix:
        """Symmetric 0/1 vertex adjacency of a level (no self-loops)."""
        return vertex_adjacency(self.faces[level], len(self.vertices[level]))

    def save(self, path: str | Path) -> None:
        """Write an ``.npz`` (to a temporary name, then renamed); the same hierarchy gives the same bytes."""
        path = Path(path)
        arrays: dict[str, np.ndarray] = {"key": np.array(self.key), "levels": np.array(len(self.vertices))}
        for k, (v, f) in enumerate(zip(self.vertices, self.faces)):
            arrays[f"vertices_{k}"], arrays[f"faces_{k}"] = v, f
        for k, (d, u) in enumerate(zip(self.down, self.up)):
            arrays[f"down_{k}"] = d.indices.astype(np.int64)  # one selected fine vertex per coarse row
            arrays[f"up_cols_{k}"] = u.indices.reshape(-1, 3).astype(np.int64)
            arrays[f"up_weights_{k}"] = u.data.reshape(-1, 3)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:  # np.savez, with fixed entry dates
            for name, array in arrays.items():
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                with zf.open(info, "w") as fh:
                    np.lib.format.write_array(fh, np.asanyarray(array), allow_pickle=False)
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path, expected_key: str | None = None) -> "MeshHierarchy":
        """Read a file written by :meth:`save`; with ``expected_key``, refuse one built from another mesh."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"mesh hierarchy {path} does not exist")
        with np.load(path) as z:
            key = str(z["key"])
            if expected_key is not None and key != expected_key:
                raise ValueError(f"mesh hierarchy {path} was built from another model mesh or settings "
                                 f"(key {key[:12]}..., expected {expected_key[:12]}...); rebuild it")
            n = int(z["levels"])
            vertices = [z[f"vertices_{k}"] for k in range(n)]
            faces = [z[f"faces_{k}"] for k in range(n)]
            down = [selection_matrix(z[f"down_{k}"], len(vertices[k])) for k in range(n - 1)]
            up = [barycentric_matrix(z[f"up_cols_{k}"], z[f"up_weights_{k}"], len(vertices[k + 1])) for k in range(n - 1)]
        return cls(vertices, faces, down, up, key)


def selection_matrix(selected: np.ndarray, num_fine: int) -> sp.csr_matrix:
    """(len(selected), num_fine) 0/1 matrix picking ``selected`` fine vertices."""
    n = len(selected)
    return sp.csr_matrix((np.ones(n), (np.arange(n), np.asarray(selected))), shape=(n, num_fine))


def barycentric_matrix(cols: np.ndarray, weights: np.ndarray, num_coarse: int) -> sp.csr_matrix:
    """(N, num_coarse) matrix with 3 weights per row at coarse vertex ids ``cols`` (N, 3)."""
    n = len(cols)
    indptr = np.arange(0, 3 * n + 1, 3)
    return sp.csr_matrix((np.asarray(weights, np.float64).ravel(), np.asarray(cols).ravel(), indptr),
                         shape=(n, num_coarse))


def decimate(vertices: np.ndarray, faces: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Quadric decimation to about ``1/factor`` of the faces -> (selected fine vertex ids, coarse
    faces indexing them): the surviving vertices of the replayed edge collapses."""
    import fast_simplification

    v = np.ascontiguousarray(vertices, dtype=np.float64)
    f = np.ascontiguousarray(faces, dtype=np.int32)
    target = max(4, int(round(len(f) / factor)))
    _, _, collapses = fast_simplification.simplify(v, f, target_count=target, return_collapses=True)
    _, coarse_faces, mapping = fast_simplification.replay_simplification(v, f, collapses)
    survivors = np.setdiff1d(np.arange(len(v)), collapses[:, 1])
    # each coarse vertex is the lowest-id survivor mapped to it (an isolated survivor can be
    # merged into a neighbour by the replay)
    new_ids, first = np.unique(mapping[survivors], return_index=True)
    if not np.array_equal(new_ids, np.arange(coarse_faces.max() + 1)):
        raise RuntimeError(f"fast-simplification: the replayed collapses of a {len(v)}-vertex mesh do not "
                           "give one surviving vertex per coarse vertex")
    return survivors[first], np.asarray(coarse_faces, np.int64)


def upsampling(fine: np.ndarray, coarse: np.ndarray, coarse_faces: np.ndarray, candidates: int = 8) -> sp.csr_matrix:
    """(len(fine), len(coarse)) barycentric weights of each fine vertex's closest point on the
    coarse mesh, searched over the triangles around its ``candidates`` nearest coarse vertices."""
    from trimesh.triangles import closest_point, points_to_barycentric

    k = min(candidates, len(coarse))
    _, near = cKDTree(coarse).query(fine, k=k)
    near = near.reshape(len(fine), k)
    incident = sp.csr_matrix((np.ones(coarse_faces.size), (coarse_faces.ravel(), np.repeat(np.arange(len(coarse_faces)), 3))),
                             shape=(len(coarse), len(coarse_faces)))
    best_face = np.zeros(len(fine), np.int64)
    best_dist = np.full(len(fine), np.inf)
    best_point = np.zeros_like(fine)
    for j in range(k):  # every triangle around the j-th nearest coarse vertex of each fine vertex
        rows = incident[near[:, j]].tocoo()
        tri = coarse[coarse_faces[rows.col]]
        pts = closest_point(tri, fine[rows.row])
        dist = np.linalg.norm(pts - fine[rows.row], axis=1)
        order = np.lexsort((rows.col, dist))  # smallest distance first, ties by face id
        first = np.unique(rows.row[order], return_index=True)[1]
        i, d = rows.row[order][first], dist[order][first]
        better = d < best_dist[i] - 1e-12
        best_dist[i[better]], best_face[i[better]] = d[better], rows.col[order][first][better]
        best_point[i[better]] = pts[order][first][better]
    cols = coarse_faces[best_face]
    weights = points_to_barycentric(coarse[cols], best_point)
    weights = np.clip(np.nan_to_num(weights), 0.0, None)
    weights /= weights.sum(1, keepdims=True).clip(min=1e-12)
    return barycentric_matrix(cols, weights, len(coarse))


def build_hierarchy(vertices: np.ndarray, faces: np.ndarray, levels: int = 4, factor: float = 4.0) -> MeshHierarchy:
    """``levels`` decimation steps of the mesh (so ``levels + 1`` meshes), each about ``factor``
    times smaller; deterministic for the same mesh."""
    if levels < 1:
        raise ValueError(f"mesh hierarchy: levels must be >= 1, got {levels}")
    if factor <= 1:
        raise ValueError(f"mesh hierarchy: factor must be > 1, got {factor}")
    vs = [np.asarray(vertices, np.float64)]
    fs = [np.asarray(faces, np.int64)]
    down, up = [], []
    for _ in range(levels):
        selected, coarse_faces = decimate(vs[-1], fs[-1], factor)
        coarse = vs[-1][selected]
        down.append(selection_matrix(selected, len(vs[-1])))
        up.append(upsampling(vs[-1], coarse, coarse_faces))
        vs.append(coarse)
        fs.append(coarse_faces)
    return MeshHierarchy(vs, fs, down, up, mesh_hash(vertices, faces, levels, factor))


def model_mesh(model) -> tuple[np.ndarray, np.ndarray]:
    """A body model's template vertices (float64) and faces (int64) as numpy arrays."""
    return (model.v_template.detach().cpu().numpy().astype(np.float64),
            model.faces.detach().cpu().numpy().astype(np.int64))


def hierarchy_for_model(model, levels: int = 4, factor: float = 4.0) -> MeshHierarchy:
    """The hierarchy of a body model's template mesh."""
    return build_hierarchy(*model_mesh(model), levels, factor)


def load_for_model(path: str | Path, model, levels: int, factor: float) -> MeshHierarchy:
    """Read a hierarchy file, refusing one built from another mesh or other settings."""
    return MeshHierarchy.load(path, expected_key=mesh_hash(*model_mesh(model), levels, factor))


def selection_asymmetry(hierarchy: MeshHierarchy, partners: np.ndarray) -> list[float]:
    """Per coarse level, the share of its vertices whose left/right mirror (``partners`` of the
    model mesh) is not a vertex of that level: 0 for a symmetric hierarchy."""
    ids = np.arange(hierarchy.sizes[0])
    out = []
    for d in hierarchy.down:
        ids = ids[d.indices]
        out.append(float(np.mean(~np.isin(partners[ids], ids))))
    return out
