"""The default procedural quadruped: mesh topology, skinning, shape space, regressor, families,
surface points, pose prior, and LBS posing through AnimalModel. Uses the spec-hash cache."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from scipy.spatial import cKDTree

from smal4v.model.gait import gait_pose
from smal4v.model.model_data import SMAL_JOINT_NAMES, ModelData
from smal4v.model.procedural import load_procedural, load_spec
from smal4v.model.procedural.mesh import mesh_report
from smal4v.model.procedural.primitives import build_primitives
from smal4v.model.procedural.shape_space import carry, mean_proportions, project_betas, sample_uniform
from smal4v.model.procedural.skeleton import build_skeleton
from smal4v.model.procedural.skinning import membership

J = {n: i for i, n in enumerate(SMAL_JOINT_NAMES)}
LEFT_LEGS = [J[n] for n in ("LLeg1", "LLeg2", "LLeg3", "LFoot", "LLegBack1", "LLegBack2", "LLegBack3", "LFootBack")]


@pytest.fixture(scope="module")
def model() -> ModelData:
    return load_procedural("default")


@pytest.fixture(scope="module")
def spec() -> dict:
    return load_spec("default")


@pytest.fixture(scope="module")
def random_samples(model: ModelData, spec: dict) -> tuple[np.ndarray, np.ndarray]:
    """Fresh proportion samples (not the ones the model was fitted on): vertices and designed joints."""
    props0 = mean_proportions(spec)
    j0, m0 = build_skeleton(props0, spec["skeleton"])
    prims0 = build_primitives(j0, m0, props0, spec["parts"])
    w = membership(prims0, model.v_template, model.faces, spec["skinning"])
    props = sample_uniform(spec, 40, np.random.default_rng(2024))
    return carry(spec, prims0, model.v_template, w, props)


def test_mesh_is_closed_oriented_genus0_manifold(model: ModelData) -> None:
    rep = mesh_report(model.v_template, model.faces)
    assert 3000 <= rep["vertices"] <= 6000
    assert rep["closed_manifold"], "every edge must be shared by exactly two faces"
    assert rep["oriented"], "each directed edge must appear once"
    assert rep["euler"] == 2
    assert rep["degenerate_faces"] == 0 and rep["unused_vertices"] == 0
    assert rep["signed_volume"] > 0  # counter-clockwise from outside = outward normals
    model.validate()


def test_mesh_is_nearly_left_right_symmetric(model: ModelData) -> None:
    v = model.v_template
    d, _ = cKDTree(v).query(v * np.array([1.0, -1.0, 1.0]))
    extent = np.ptp(v[:, 0])
    assert d.max() < 1e-6 * extent  # exact mirror pairs


def test_frame_and_scale(model: ModelData) -> None:
    v = model.v_template
    nose = v[model.surface_points["nose"]]
    tail_base = model.J_regressor[J["Tail1"]] @ v
    assert 0.85 < nose[0] - tail_base[0] < 1.15  # about one unit nose tip to tail base
    assert abs(v[:, 0].max() - nose[0]) < 0.01  # the nose is the most forward point
    assert v[:, 2].argmin() in np.nonzero(model.weights[:, [J[n] for n in ("LFoot", "RFoot", "LFootBack", "RFootBack")]].sum(1) > 0.5)[0]


def test_skinning_weights_are_convex_and_local(model: ModelData) -> None:
    w, v = model.weights, model.v_template
    assert np.all(w >= 0) and np.allclose(w.sum(1), 1.0)
    left_leg = w[:, LEFT_LEGS].sum(1) > 0.5
    assert left_leg.sum() > 200 and np.all(v[left_leg, 1] > 0)
    sp = model.surface_points
    assert w[sp["left_ear_tip"], J["LEar"]] > 0.9 and w[sp["right_ear_tip"], J["REar"]] > 0.9
    assert w[sp["chin"], J["Mouth"]] > 0.5
    assert w[sp["nose"], J["Head"]] + w[sp["nose"], J["Mouth"]] > 0.9
    tail_tip = v[:, 0].argmin()
    assert w[tail_tip, J["Tail7"]] > 0.9
    # torso vertices (mid-back) belong to the spine chain
    mid_back = np.nonzero((np.abs(v[:, 0]) < 0.05) & (v[:, 2] > 0.08))[0]
    assert mid_back.size > 5 and np.all(w[mid_back][:, :7].sum(1) > 0.99)


def test_regressor_is_convex_and_reproduces_designed_joints(model: ModelData, random_samples) -> None:
    reg = model.J_regressor
    assert np.all(reg >= 0) and np.allclose(reg.sum(1), 1.0)
    verts, joints = random_samples
    err = np.linalg.norm(np.einsum("jv,nvc->njc", reg, verts) - joints, axis=-1)
    assert np.sqrt(np.mean(err ** 2)) < 0.012 and err.max() < 0.05
    rest = reg @ model.v_template
    assert np.all(rest[LEFT_LEGS, 1] > 0) and np.all(rest[[j + 4 for j in LEFT_LEGS], 1] < 0)
    assert rest[J["LEar"], 1] > 0 > rest[J["REar"], 1]


def test_shape_space_spans_random_proportions(model: ModelData, random_samples) -> None:
    assert model.num_betas >= 10
    norms = np.linalg.norm(model.shapedirs.reshape(model.num_betas, -1), axis=1)
    assert np.all(np.diff(norms) <= 1e-9)  # ordered by variance
    verts, _ = random_samples
    disp = verts - model.v_template
    betas = project_betas(model.shapedirs, disp)
    recon = np.einsum("nb,bvc->nvc", betas, model.shapedirs)
    rms = np.sqrt(np.mean(np.sum((recon - disp) ** 2, -1)))
    assert rms < 0.1 * np.sqrt(np.mean(np.sum(disp ** 2, -1)))
    assert 0.2 < betas.std() < 2.0  # betas have roughly unit scale


def test_families_are_distinct_psd_gaussians(model: ModelData) -> None:
    fams = {f.name: f for f in model.shape_families}
    assert {"dog", "cat", "horse", "cow", "camel"} <= set(fams)
    for f in fams.values():
        assert f.mean.shape == (model.num_betas,) and f.cov.shape == (model.num_betas,) * 2
        np.testing.assert_allclose(f.cov, f.cov.T)
        assert np.linalg.eigvalsh(f.cov).min() > 0

    def shape(name: str) -> np.ndarray:
        return model.v_template + np.einsum("b,bvc->vc", fams[name].mean, model.shapedirs)

    legs = {n: (model.J_regressor[J["spine3"]] - model.J_regressor[J["LFoot"]]) @ shape(n) for n in fams}
    assert legs["camel"][2] > legs["horse"][2] > legs["dog"][2] > legs["cat"][2]  # front leg length
    assert np.ptp(shape("cow")[:, 1]) > np.ptp(shape("cat")[:, 1])  # cows are wider


def test_surface_points_sides(model: ModelData) -> None:
    sp = model.surface_points
    assert set(sp) == {"nose", "chin", "left_ear_tip", "right_ear_tip", "left_eye", "right_eye", "neck_top"}
    p = {k: model.v_template[i] for k, i in sp.items()}
    assert p["left_ear_tip"][1] > 0 > p["right_ear_tip"][1]
    assert p["left_eye"][1] > 0 > p["right_eye"][1]
    assert p["chin"][2] < p["nose"][2] and p["left_ear_tip"][2] > p["left_eye"][2]


def test_pose_prior_prefers_gait_poses(model: ModelData) -> None:
    prior = model.pose_prior
    assert prior is not None and prior.limits.shape == (35, 3, 2) and prior.mean.shape == (105,)
    L = prior.precision_chol
    assert np.allclose(L, np.tril(L))

    def energy(theta: np.ndarray) -> np.ndarray:
        r = (theta.reshape(len(theta), -1) - prior.mean) @ L
        r[:, :3] = 0.0
        return np.mean(r ** 2, axis=1)

    rng = np.random.default_rng(5)
    phase = rng.uniform(size=50)
    gaits = np.concatenate([gait_pose(phase[:25], "walk"), gait_pose(phase[25:], "trot")])
    lo, hi = prior.limits[..., 0], prior.limits[..., 1]
    assert np.all(gaits >= lo - 1e-9) and np.all(gaits <= hi + 1e-9)
    random = rng.uniform(np.maximum(lo, -1.0), np.minimum(hi, 1.0), size=(50, 35, 3))
    assert np.median(energy(gaits)) * 10 < np.median(energy(random))
    # root rotation does not change the energy
    turned = gaits.copy()
    turned[:, 0] = rng.normal(size=(50, 3))
    np.testing.assert_allclose(energy(turned), energy(gaits), rtol=1e-6, atol=1e-6)


def test_posedirs_are_zero(model: ModelData) -> None:
    assert model.posedirs.shape == (34 * 9, model.num_vertices, 3) and not model.posedirs.any()


@pytest.mark.skipif(importlib.util.find_spec("smal4v.model.animal_model") is None, reason="AnimalModel not available")
def test_posing_a_leg_moves_only_that_leg(model: ModelData) -> None:
    import torch

    from smal4v.model.animal_model import AnimalModel

    am = AnimalModel.from_data(model, dtype=torch.float64)
    betas = torch.zeros(1, model.num_betas, dtype=torch.float64)
    rest = am(betas, torch.zeros(1, 35, 3, dtype=torch.float64)).vertices[0].numpy()
    np.testing.assert_allclose(rest, model.v_template, atol=1e-9)
    for joint, side in (("LLeg2", 1.0), ("RLegBack2", -1.0)):
        pose = torch.zeros(1, 35, 3, dtype=torch.float64)
        pose[0, J[joint], 1] = 0.7
        shift = np.linalg.norm(am(betas, pose).vertices[0].numpy() - rest, axis=1)
        moved = shift > 1e-6
        knee = model.J_regressor[J[joint]] @ model.v_template
        top = model.J_regressor[model.parents[J[joint]]] @ model.v_template
        assert moved.sum() > 100
        assert np.all(side * model.v_template[moved, 1] > 0), joint  # only that side
        assert np.all(model.v_template[moved, 2] < top[2]), joint  # nothing above the leg
        assert np.all(model.v_template[shift > 5e-3, 2] < 0.5 * (knee[2] + top[2])), joint  # mostly below the knee
    pose = torch.zeros(1, 35, 3, dtype=torch.float64)
    pose[0, J["Tail1"], 2] = 0.8
    moved = np.linalg.norm(am(betas, pose).vertices[0].numpy() - rest, axis=1) > 1e-6
    root = model.J_regressor[J["root"]] @ model.v_template
    assert moved.sum() > 50 and np.all(model.v_template[moved, 0] < root[0])


@pytest.mark.skipif(importlib.util.find_spec("smal4v.model.animal_model") is None, reason="AnimalModel not available")
def test_regressed_posed_joints_follow_the_kinematic_chain(model: ModelData) -> None:
    """AnimalModel re-regresses joints from posed vertices; with this regressor they stay at the
    kinematic joint positions (independent numpy forward kinematics) under strong gait poses."""
    import torch
    from scipy.spatial.transform import Rotation

    from smal4v.model.animal_model import AnimalModel

    am = AnimalModel.from_data(model, dtype=torch.float64)
    poses = gait_pose(np.linspace(0.0, 1.0, 6, endpoint=False), "trot", {"flex": 1.4, "swing_front": 0.7})
    out = am(torch.zeros(6, model.num_betas, dtype=torch.float64), torch.tensor(poses)).joints.numpy()
    rest = model.J_regressor @ model.v_template
    for b in range(len(poses)):
        rot, pos = [None] * 35, np.zeros((35, 3))
        for j, p in enumerate(model.parents):
            r = Rotation.from_rotvec(poses[b, j]).as_matrix()
            rot[j], pos[j] = (r, rest[j]) if p < 0 else (rot[p] @ r, pos[p] + rot[p] @ (rest[j] - rest[p]))
        assert np.linalg.norm(out[b] - pos, axis=1).max() < 0.015
