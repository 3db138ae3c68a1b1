"""Builds the procedural quadruped ModelData from a spec, and caches it as .npz by spec hash."""

from __future__ import annotations

import logging
import time
import zipfile
from pathlib import Path

import numpy as np

from smal4v.model.landmarks import add_neck_top
from smal4v.model.model_data import SMAL_JOINT_NAMES, ModelData, flip_permutation
from smal4v.model.procedural.mesh import mesh_report, mesh_sdf, mirror_partners, symmetrize, taubin_smooth
from smal4v.model.procedural.pose_prior import fit_pose_prior
from smal4v.model.procedural.primitives import Primitive, build_primitives
from smal4v.model.procedural.shape_space import (carry, fit_families, fit_regressor, mean_proportions,
                                                 pca_shapedirs, sample_uniform)
from smal4v.model.procedural.skeleton import SMAL_PARENTS, build_skeleton
from smal4v.model.procedural.skinning import joint_weights, membership, symmetrize_weights
from smal4v.model.procedural.spec import SPEC_DIR, check_spec, load_spec, spec_hash

log = logging.getLogger(__name__)
CACHE_DIR = SPEC_DIR / "cache"


def _template_mesh(prims: list[Primitive], cfg: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Mesh at a voxel size adapted (a few deterministic tries) to land near the target vertex count;
    also each vertex's mirror partner (None if the mesh has no exact mirror pairing)."""
    target, tol = int(cfg["target_vertices"]), float(cfg["tolerance"])
    voxel = float(cfg["voxel"])
    best = None
    for _ in range(4):
        verts, faces = mesh_sdf(prims, voxel, int(cfg["padding"]))
        if best is None or abs(len(verts) / target - 1) < abs(len(best[0]) / target - 1):
            best = (verts, faces)
        if abs(len(verts) / target - 1) <= tol:
            break
        voxel *= np.sqrt(len(verts) / target)
    verts, faces = best
    partners = mirror_partners(verts, 1e-4 * float(cfg["voxel"]))
    verts = taubin_smooth(verts, faces, int(cfg["taubin_iterations"]), float(cfg["taubin_lambda"]), float(cfg["taubin_mu"]))
    if partners is not None:  # smoothing on an asymmetric triangulation breaks the mirror symmetry; restore it
        verts = symmetrize(verts, partners)
    else:
        log.warning("procedural mesh vertices have no exact mirror pairing; left unsymmetrized")
    return verts, faces, partners


def _surface_points(vertices: np.ndarray, marks: dict[str, np.ndarray], prims: list[Primitive]) -> dict[str, int]:
    """Vertex ids nearest to designed landmarks (nose tip, chin, ear tips, eyes)."""
    by_name = {p.name: p for p in prims}
    jaw = by_name["jaw"]
    targets = {
        "nose": marks["nose_tip"][0],
        "chin": jaw.b[0] - jaw.rb[0] * marks["snout_up"][0],
        "left_ear_tip": marks["left_ear_tip"][0],
        "right_ear_tip": marks["right_ear_tip"][0],
        "left_eye": marks["left_eye"][0],
        "right_eye": marks["right_eye"][0],
    }
    return {k: int(np.argmin(np.linalg.norm(vertices - t, axis=1))) for k, t in targets.items()}


def build_procedural_model(spec: dict, report: dict | None = None) -> ModelData:
    """Build the model from a spec dict (as returned by :func:`load_spec`); deterministic.

    ``posedirs`` is all zeros: the procedural model has no pose-corrective blend shapes.
    If ``report`` is given it receives build statistics (mesh checks, regressor RMS, timings).
    """
    check_spec(spec)
    t0 = time.perf_counter()
    props0 = mean_proportions(spec)
    joints0, marks0 = build_skeleton(props0, spec["skeleton"])
    prims0 = build_primitives(joints0, marks0, props0, spec["parts"])
    vertices, faces, partners = _template_mesh(prims0, spec["meshing"])
    t_mesh = time.perf_counter()
    prim_w = membership(prims0, vertices, faces, spec["skinning"])
    weights = joint_weights(prim_w, prims0, SMAL_PARENTS, float(spec["skinning"]["min_weight"]))
    if partners is not None:  # exactly mirror-symmetric memberships and skinning weights
        prim_w = symmetrize_weights(prim_w, partners, flip_permutation([p.name for p in prims0]))
        weights = symmetrize_weights(weights, partners, flip_permutation(SMAL_JOINT_NAMES))
    cfg = spec["shape_space"]
    rng = np.random.default_rng(int(cfg["seed"]))
    samples = sample_uniform(spec, int(cfg["num_samples"]), rng)
    verts_s, joints_s = carry(spec, prims0, vertices, prim_w, samples)
    shapedirs, variances = pca_shapedirs(verts_s - vertices, int(cfg["num_betas"]))
    t_pca = time.perf_counter()
    m = int(cfg["regressor_samples"])
    reg_verts = np.concatenate([vertices[None], verts_s[:m]])
    reg_joints = np.concatenate([joints0, joints_s[:m]])
    j_regressor, reg_rms = fit_regressor(reg_verts, reg_joints, cfg)
    families = fit_families(spec, prims0, vertices, prim_w, shapedirs)
    prior = fit_pose_prior(spec["pose_prior"])
    num_j = len(SMAL_JOINT_NAMES)
    data = ModelData(
        v_template=vertices,
        shapedirs=shapedirs,
        posedirs=np.zeros(((num_j - 1) * 9, len(vertices), 3)),
        J_regressor=j_regressor,
        weights=weights,
        parents=SMAL_PARENTS.copy(),
        faces=faces,
        joint_names=list(SMAL_JOINT_NAMES),
        surface_points=add_neck_top(_surface_points(vertices, marks0, prims0), vertices, joints0[0, SMAL_JOINT_NAMES.index("Neck")]),
        shape_families=families,
        pose_prior=prior,
        source=f"procedural:{spec_hash(spec)}",
    )
    data.validate()
    if report is not None:
        report.update(mesh_report(vertices, faces))
        report.update(regressor_rms=reg_rms, shape_variances=variances, designed_joints=joints0[0],
                      seconds_mesh=t_mesh - t0, seconds_shape_space=t_pca - t_mesh,
                      seconds_total=time.perf_counter() - t0)
    return data


def load_procedural(variant: str = "default", cache_dir: str | Path | None = CACHE_DIR) -> ModelData:
    """The procedural model of ``variant``, from ``<cache_dir>/<variant>-<spec hash>.npz`` when
    present, else built and written there (an unwritable cache is skipped with a warning).
    ``cache_dir=None`` always rebuilds."""
    spec = load_spec(variant)
    if cache_dir is None:
        return build_procedural_model(spec)
    path = Path(cache_dir) / f"{variant}-{spec_hash(spec)}.npz"
    if path.exists():
        try:
            return ModelData.load_npz(path)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
            log.warning("ignoring unreadable procedural model cache %s (%s); rebuilding", path, err)
    data = build_procedural_model(spec)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data.save_npz(path)
        for stale in path.parent.glob(f"{variant}-*.npz"):
            if stale != path and len(stale.stem) == len(path.stem):  # older builds of this variant
                stale.unlink(missing_ok=True)
    except OSError as err:
        log.warning("could not write procedural model cache %s: %s", path, err)
    return data
