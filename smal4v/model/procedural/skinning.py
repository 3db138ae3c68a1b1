"""Primitive-membership and skinning weights of the template surface.

A vertex belongs to its few nearest primitives (softmax of the negative primitive distance,
restricted to the ``nearest_primitives`` closest), smoothed by neighbour averaging over the
surface. Joint skinning weights are the membership summed per owning joint, with tiny weights
dropped so that e.g. a leg joint never moves torso vertices.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from smal4v.model.procedural.mesh import vertex_adjacency
from smal4v.model.procedural.primitives import Primitive, primitive_sdf


def membership(prims: list[Primitive], vertices: np.ndarray, faces: np.ndarray, cfg: dict) -> np.ndarray:
    """Primitive weights (V, P), rows summing to one, smooth over the surface."""
    dist = np.stack([primitive_sdf(p, vertices) for p in prims], axis=1)
    k = int(cfg["nearest_primitives"])
    nearest = np.argsort(dist, axis=1, kind="stable")[:, :k]
    rows = np.arange(len(vertices))[:, None]
    d = dist[rows, nearest]
    w = np.exp(-(d - d[:, :1]) / float(cfg["temperature"]))
    weights = np.zeros_like(dist)
    weights[rows, nearest] = w / w.sum(1, keepdims=True)
    a = vertex_adjacency(faces, len(vertices))
    avg = sp.diags(1.0 / np.asarray(a.sum(1)).ravel()) @ a
    for _ in range(int(cfg["diffusion_iterations"])):
        weights = 0.5 * weights + 0.5 * (avg @ weights)
    weights[weights < float(cfg["min_membership"])] = 0.0
    return weights / weights.sum(1, keepdims=True)


def joint_weights(prim_weights: np.ndarray, prims: list[Primitive], parents: np.ndarray, min_weight: float) -> np.ndarray:
    """Skinning weights (V, J): membership summed per owner joint, then restricted to the vertex's
    dominant joint and its kinematic neighbours (parent, children) so that, e.g., a forearm joint
    never moves chest vertices; entries below ``min_weight`` dropped; rows sum to 1."""
    num_joints = len(parents)
    owner = np.zeros((len(prims), num_joints))
    owner[np.arange(len(prims)), [p.owner for p in prims]] = 1.0
    w = prim_weights @ owner
    near = np.eye(num_joints, dtype=bool)
    for j, p in enumerate(parents):
        if p >= 0:
            near[j, p] = near[p, j] = True
    w = np.where(near[np.argmax(w, axis=1)], w, 0.0)
    w[w < min_weight] = 0.0
    return w / w.sum(1, keepdims=True)


def symmetrize_weights(weights: np.ndarray, partners: np.ndarray, flip: np.ndarray) -> np.ndarray:
    """Average (V, K) weights with the mirror vertex's weights, columns flipped left/right."""
    return 0.5 * (weights + weights[partners][:, flip])
