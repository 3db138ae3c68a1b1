"""Shape space of the procedural quadruped: proportion sampling, PCA, joint regressor, families."""

from __future__ import annotations

import numpy as np
from scipy.optimize import nnls

from smal4v.model.model_data import ShapeFamily
from smal4v.model.procedural.primitives import Primitive, build_primitives, deform
from smal4v.model.procedural.skeleton import build_skeleton


def mean_proportions(spec: dict) -> dict[str, np.ndarray]:
    """The template animal's proportions, each as a (1,) array."""
    return {k: np.array([float(v["mean"])]) for k, v in spec["proportions"].items()}


def sample_uniform(spec: dict, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """n proportion samples, each proportion uniform in its spec range (fixed key order)."""
    return {k: rng.uniform(*map(float, v["range"]), size=n) for k, v in spec["proportions"].items()}


def sample_family(spec: dict, family: dict, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """n samples of one family: Gaussian per proportion ([mean, std] or the global mean with
    default_std x range width), clipped to the proportion range."""
    out = {}
    default_std = float(spec["families"]["default_std"])
    for k, v in spec["proportions"].items():
        lo, hi = map(float, v["range"])
        mean, std = family.get(k, [float(v["mean"]), default_std * (hi - lo)])
        out[k] = np.clip(rng.normal(float(mean), float(std), size=n), lo, hi)
    return out


def carry(spec: dict, template_prims: list[Primitive], vertices: np.ndarray, prim_weights: np.ndarray,
          props: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Corresponding vertices (N, V, 3) and designed joints (N, 35, 3) for proportion samples."""
    joints, marks = build_skeleton(props, spec["skeleton"])
    prims = build_primitives(joints, marks, props, spec["parts"])
    return deform(template_prims, prims, vertices, prim_weights), joints


def pca_shapedirs(displacements: np.ndarray, num_betas: int) -> tuple[np.ndarray, np.ndarray]:
    """Shape directions (B, V, 3) scaled so betas have unit second moment, and their variances (B,).

    PCA about the template (no re-centring): shapedirs_k = sqrt(eigval_k) * eigvec_k, with each
    eigenvector's largest-magnitude entry made positive (a deterministic sign).
    """
    n, v, _ = displacements.shape
    flat = displacements.reshape(n, -1)
    gram = flat @ flat.T
    evals, evecs = np.linalg.eigh(gram)
    order = np.argsort(evals)[::-1][:num_betas]
    evals, evecs = np.maximum(evals[order], 0.0), evecs[:, order]
    dirs = (evecs.T @ flat) / np.sqrt(np.maximum(evals, 1e-30))[:, None]  # unit eigenvectors (B, 3V)
    sign = np.sign(dirs[np.arange(len(dirs)), np.argmax(np.abs(dirs), axis=1)])
    dirs = dirs * sign[:, None]
    variances = evals / n
    return (np.sqrt(variances)[:, None] * dirs).reshape(-1, v, 3), variances


def project_betas(shapedirs: np.ndarray, displacements: np.ndarray) -> np.ndarray:
    """Least-squares betas (N, B) of vertex displacements (N, V, 3) on shapedirs (B, V, 3)."""
    basis = shapedirs.reshape(shapedirs.shape[0], -1)
    return displacements.reshape(len(displacements), -1) @ basis.T @ np.linalg.inv(basis @ basis.T)


def _candidates(vertices: np.ndarray, joint: np.ndarray, count: int) -> np.ndarray:
    """Vertex ids surrounding ``joint``: the nearest in each of 14 direction cones plus the nearest overall."""
    d = vertices - joint
    dist = np.linalg.norm(d, axis=1)
    dirs = [np.array(v, float) for v in
            [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)]
            + [(sx, sy, sz) for sx in (1, -1) for sy in (1, -1) for sz in (1, -1)]]
    near = dist <= 2.5 * dist.min() + 1e-6
    picks = [np.argsort(dist, kind="stable")[: count // 2]]
    per_cone = max(1, (count - count // 2) // len(dirs))
    for u in dirs:
        u = u / np.linalg.norm(u)
        ok = np.nonzero(near & (d @ u > 0.6 * dist))[0]
        picks.append(ok[np.argsort(dist[ok], kind="stable")[:per_cone]])
    return np.unique(np.concatenate(picks))


def fit_regressor(vertices: np.ndarray, joints: np.ndarray, cfg: dict) -> tuple[np.ndarray, float]:
    """J_regressor (J, V): per joint a convex combination of surrounding vertices fitted by NNLS
    (heavily weighted sum-to-one row) to reproduce designed joints over samples.

    vertices (N, V, 3) and joints (N, J, 3) are corresponding shape samples, the first being the
    template. Returns the regressor and its RMS joint error over those samples.
    """
    n, v, _ = vertices.shape
    reg = np.zeros((joints.shape[1], v))
    lam = float(cfg["regressor_sum_weight"])
    for j in range(joints.shape[1]):
        cand = _candidates(vertices[0], joints[0, j], int(cfg["regressor_candidates"]))
        a = vertices[:, cand, :].transpose(0, 2, 1).reshape(n * 3, len(cand))
        b = joints[:, j, :].reshape(n * 3)
        a = np.vstack([a, lam * np.ones((1, len(cand)))])
        b = np.append(b, lam)
        w, _ = nnls(a, b, maxiter=50 * len(cand))
        reg[j, cand] = w / w.sum()
    err = np.einsum("jv,nvc->njc", reg, vertices) - joints
    return reg, float(np.sqrt(np.mean(np.sum(err ** 2, axis=-1))))


def fit_families(spec: dict, template_prims: list[Primitive], vertices: np.ndarray, prim_weights: np.ndarray,
                 shapedirs: np.ndarray) -> list[ShapeFamily]:
    """One Gaussian over betas per spec family: samples carried to vertices, projected on shapedirs,
    covariance + cov_epsilon * I (keeps it positive definite; documented in the spec)."""
    cfg = spec["families"]
    rng = np.random.default_rng(int(cfg["seed"]))
    eps = float(cfg["cov_epsilon"])
    out = []
    for name, family in cfg["members"].items():
        unknown = set(family) - set(spec["proportions"])
        if unknown:
            raise ValueError(f"procedural spec: family {name!r} names unknown proportions {sorted(unknown)}")
        props = sample_family(spec, family, int(cfg["num_samples"]), rng)
        verts, _ = carry(spec, template_prims, vertices, prim_weights, props)
        betas = project_betas(shapedirs, verts - vertices)
        cov = np.cov(betas, rowvar=False) + eps * np.eye(betas.shape[1])
        out.append(ShapeFamily(name, betas.mean(0), cov))
    return out
