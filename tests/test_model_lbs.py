"""AnimalModel forward pass against an independent plain-numpy SMAL implementation (METHOD 1.7),
and load_model dispatch (.npz, bad specs)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from smal4v.model import AnimalModel, ModelOutput, load_model
from smal4v.model.model_data import SMAL_JOINT_NAMES, ModelData, ShapeFamily

SMAL_PARENTS = [-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 6, 11, 12, 13, 6, 15, 0, 17, 18, 19, 0, 21, 22, 23,
                0, 25, 26, 27, 28, 29, 30, 16, 16, 16]


def make_model_data(seed: int = 0, V: int = 60, NB: int = 7, zero_posedirs: bool = False) -> ModelData:
    """Random SMAL-layout model: 35 joints with SMAL names, V vertices, sparse random skinning."""
    rng = np.random.default_rng(seed)
    J = len(SMAL_PARENTS)
    v_template = rng.normal(size=(V, 3))
    weights = np.zeros((V, J))
    for v in range(V):
        js = rng.choice(J, size=rng.integers(1, 4), replace=False)
        weights[v, js] = rng.uniform(0.1, 1.0, size=js.size)
    weights /= weights.sum(1, keepdims=True)
    J_regressor = np.zeros((J, V))
    for j in range(J):
        vs = rng.choice(V, size=4, replace=False)
        J_regressor[j, vs] = rng.dirichlet(np.ones(4))
    faces = rng.integers(0, V, size=(2 * V, 3))
    posedirs = np.zeros(((J - 1) * 9, V, 3)) if zero_posedirs else 0.05 * rng.normal(size=((J - 1) * 9, V, 3))
    return ModelData(
        v_template=v_template,
        shapedirs=0.3 * rng.normal(size=(NB, V, 3)),
        posedirs=posedirs,
        J_regressor=J_regressor,
        weights=weights,
        parents=np.array(SMAL_PARENTS),
        faces=faces,
        joint_names=list(SMAL_JOINT_NAMES),
        surface_points={"nose": 3, "chin": 5, "left_ear_tip": 7, "right_ear_tip": 11},
        source="random-test-model",
    )


LEGS = list(range(7, 15)) + list(range(17, 25))
TAIL = list(range(25, 32))
EARS = [33, 34]
# (joints, axes) per limb log-scale entry, written out from the METHOD.md 1.7 table.
SCALE_TABLE = [(LEGS, [2]), (LEGS, [0, 1]), (TAIL, [0]), (TAIL, [1, 2]), (EARS, [1]), (EARS, [2])]


def numpy_smal(d: ModelData, betas, pose, trans=None, limb_scale=None, delta_v=None) -> tuple[np.ndarray, np.ndarray]:
    """One sample, float64, joint-by-joint loops; returns (vertices, output joints)."""
    J, V = d.num_joints, d.num_vertices
    nb = betas.shape[0]
    v_shaped = d.v_template + np.tensordot(betas, d.shapedirs[:nb], axes=1)
    if delta_v is not None:
        v_shaped = v_shaped + delta_v
    Jr = d.J_regressor @ v_shaped
    Rs = [Rotation.from_rotvec(pose[j]).as_matrix() for j in range(J)]
    feat = np.concatenate([(Rs[j] - np.eye(3)).ravel() for j in range(1, J)])
    v_posed = v_shaped + np.tensordot(feat, d.posedirs, axes=1)
    log_s = np.zeros((J, 3))
    if limb_scale is not None:
        for k, (joints, axes) in enumerate(SCALE_TABLE):
            for j in joints:
                for a in axes:
                    log_s[j, a] += limb_scale[k]
    S = [np.diag(np.exp(log_s[j])) for j in range(J)]
    G = [None] * J
    for j in range(J):
        p = d.parents[j]
        M = np.eye(4)
        if p < 0:
            M[:3, :3] = Rs[j] @ S[j]
            M[:3, 3] = Jr[j]
            G[j] = M
        else:
            M[:3, :3] = np.linalg.inv(S[p]) @ Rs[j] @ S[j]
            M[:3, 3] = Jr[j] - Jr[p]
            G[j] = G[p] @ M
    A = []
    for j in range(J):
        Aj = G[j].copy()
        Aj[:3, 3] -= G[j][:3, :3] @ Jr[j]
        A.append(Aj)
    verts = np.zeros((V, 3))
    for v in range(V):
        T = sum(d.weights[v, j] * A[j] for j in range(J))
        verts[v] = T[:3, :3] @ v_posed[v] + T[:3, 3]
    if trans is not None:
        verts = verts + trans
    return verts, d.J_regressor @ verts


@pytest.fixture(scope="module")
def data() -> ModelData:
    return make_model_data()


def test_matches_numpy_reference_with_all_inputs(data):
    rng = np.random.default_rng(1)
    model = AnimalModel.from_data(data, dtype=torch.float64)
    B = 3
    betas = rng.normal(size=(B, 5))  # fewer than NB=7: first 5 components
    pose = 0.6 * rng.normal(size=(B, 35, 3))
    trans = rng.normal(size=(B, 3))
    limb = 0.3 * rng.normal(size=(B, 6))
    dv = 0.1 * rng.normal(size=(B, data.num_vertices, 3))
    t = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    out = model(t(betas), t(pose), t(trans), t(limb), t(dv))
    assert isinstance(out, ModelOutput)
    for b in range(B):
        verts, joints = numpy_smal(data, betas[b], pose[b], trans[b], limb[b], dv[b])
        np.testing.assert_allclose(out.vertices[b].numpy(), verts, atol=1e-6)
        np.testing.assert_allclose(out.joints[b].numpy(), joints, atol=1e-6)
        ids = list(data.surface_points.values())
        np.testing.assert_allclose(out.points[b].numpy(), np.concatenate([joints, verts[ids]]), atol=1e-6)
    assert model.point_names == list(SMAL_JOINT_NAMES) + list(data.surface_points)


def test_float32_without_scaling_and_matrix_pose(data):
    rng = np.random.default_rng(2)
    model = AnimalModel.from_data(data)
    betas = rng.normal(size=(2, 7))
    pose = 0.5 * rng.normal(size=(2, 35, 3))
    out = model(torch.tensor(betas, dtype=torch.float32), torch.tensor(pose, dtype=torch.float32))
    assert out.vertices.dtype == torch.float32
    for b in range(2):
        verts, _ = numpy_smal(data, betas[b], pose[b])
        np.testing.assert_allclose(out.vertices[b].numpy(), verts, atol=2e-4)
    mats = torch.tensor(Rotation.from_rotvec(pose.reshape(-1, 3)).as_matrix().reshape(2, 35, 3, 3), dtype=torch.float32)
    out_m = model(torch.tensor(betas, dtype=torch.float32), mats)
    torch.testing.assert_close(out_m.vertices, out.vertices, atol=1e-4, rtol=0)


def test_rest_pose_is_template_plus_shape_offsets(data):
    model = AnimalModel.from_data(data, dtype=torch.float64)
    betas = torch.randn(2, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    out = model(betas, torch.zeros(2, 35, 3, dtype=torch.float64))
    expected = torch.as_tensor(data.v_template) + torch.einsum("bk,kvc->bvc", betas, torch.as_tensor(data.shapedirs[:4]))
    torch.testing.assert_close(out.vertices, expected, atol=1e-7, rtol=0)
    # zero limb log-scales change nothing
    out_s = model(betas, torch.zeros(2, 35, 3, dtype=torch.float64), limb_scale=torch.zeros(2, 6, dtype=torch.float64))
    torch.testing.assert_close(out_s.vertices, expected, atol=1e-7, rtol=0)


def test_global_rotation_turns_about_rest_root_joint(data):
    model = AnimalModel.from_data(data, dtype=torch.float64)
    pose = torch.zeros(1, 35, 3, dtype=torch.float64)
    pose[0, 0] = torch.tensor([0.3, -1.1, 0.7])
    betas = torch.zeros(1, 7, dtype=torch.float64)
    rest = model(betas, torch.zeros_like(pose)).vertices[0]
    posed = model(betas, pose).vertices[0].numpy()
    root = (torch.as_tensor(data.J_regressor[0]) @ rest).numpy()
    R = Rotation.from_rotvec(pose[0, 0].numpy()).as_matrix()
    # no pose blend for the root (its rotation is excluded from the pose feature)
    np.testing.assert_allclose(posed, (rest.numpy() - root) @ R.T + root, atol=1e-9)


def test_rest_joints_are_the_pivots_of_the_root_rotation(data):
    """rest_joints (no skinning) = the regressor on the shaped template, and the root turns about joint 0."""
    model = AnimalModel.from_data(data, dtype=torch.float64)
    betas = torch.randn(2, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    shaped = torch.as_tensor(data.v_template) + torch.einsum("bk,kvc->bvc", betas, torch.as_tensor(data.shapedirs[:5]))
    expected = torch.einsum("jv,bvc->bjc", torch.as_tensor(data.J_regressor), shaped)
    torch.testing.assert_close(model.rest_joints(betas), expected, atol=1e-6, rtol=0)
    pose = torch.zeros(2, 35, 3, dtype=torch.float64)
    pose[:, 0] = torch.tensor([0.4, 1.2, -0.5])
    pivot = model.rest_joints(betas)[:, 0]
    turned = model(betas, pose).vertices
    R = torch.as_tensor(Rotation.from_rotvec(pose[0, 0].numpy()).as_matrix())
    torch.testing.assert_close(turned, (shaped - pivot[:, None]) @ R.T + pivot[:, None], atol=1e-6, rtol=0)


def subtree(parents: list[int], j: int) -> set[int]:
    out = {j}
    for c in range(len(parents)):
        p = parents[c]
        while p >= 0:
            if p == j:
                out.add(c)
                break
            p = parents[p]
    return out


def test_leg_rotation_moves_only_its_subtree_vertices():
    data = make_model_data(seed=4, zero_posedirs=True)
    model = AnimalModel.from_data(data, dtype=torch.float64)
    assert not model.has_pose_blend
    betas = torch.zeros(1, 3, dtype=torch.float64)
    rest = model(betas, torch.zeros(1, 35, 3, dtype=torch.float64)).vertices[0]
    for joint in (SMAL_JOINT_NAMES.index("LLeg2"), SMAL_JOINT_NAMES.index("RLegBack1")):
        pose = torch.zeros(1, 35, 3, dtype=torch.float64)
        pose[0, joint] = torch.tensor([0.4, 0.9, -0.2])
        moved = (model(betas, pose).vertices[0] - rest).norm(dim=-1) > 1e-9
        sub = sorted(subtree(SMAL_PARENTS, joint))
        skinned = data.weights[:, sub].sum(1) > 0
        assert skinned.any()
        np.testing.assert_array_equal(moved.numpy(), skinned)


def test_gradients_reach_all_inputs(data):
    model = AnimalModel.from_data(data)
    g = torch.Generator().manual_seed(5)
    betas = torch.randn(2, 7, generator=g, requires_grad=True)
    pose = (0.3 * torch.randn(2, 35, 3, generator=g)).requires_grad_()
    trans = torch.randn(2, 3, generator=g, requires_grad=True)
    limb = (0.1 * torch.randn(2, 6, generator=g)).requires_grad_()
    out = model(betas, pose, trans, limb)
    (out.vertices.square().sum() + out.points.sum()).backward()
    for t in (betas, pose, trans, limb):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0
    # zero pose (the SMAL +1e-8 Rodrigues) still has finite gradients
    pose0 = torch.zeros(1, 35, 3, requires_grad=True)
    model(betas[:1].detach(), pose0).vertices.sum().backward()
    assert torch.isfinite(pose0.grad).all()


def test_limb_scale_mask_from_names_and_point_index(data):
    model = AnimalModel.from_data(data)
    mask = model.limb_mask.reshape(6, 35, 3)
    assert mask[0, 7, 2] == 1 and mask[0, 7, :2].sum() == 0 and mask[1, 24, :2].sum() == 2
    assert mask[2, 25:32, 0].sum() == 7 and mask[4, 33:, 1].sum() == 2 and mask[5, 33:, 2].sum() == 2
    assert mask[:, [0, 1, 15, 16, 32]].sum() == 0
    assert model.point_index("nose") == 35 and model.point_index("LLeg2") == 8
    with pytest.raises(KeyError, match="no point named 'tail_tip'"):
        model.point_index("tail_tip")


def test_bad_inputs_are_named(data):
    model = AnimalModel.from_data(data)
    with pytest.raises(ValueError, match="got 9 betas"):
        model(torch.zeros(1, 9), torch.zeros(1, 35, 3))
    with pytest.raises(ValueError, match="pose must be"):
        model(torch.zeros(1, 3), torch.zeros(1, 34, 3))


def test_npz_round_trip_gives_same_model_output(tmp_path):
    data = make_model_data(seed=7, NB=4)
    data.shape_families = [ShapeFamily("dog", np.zeros(4), np.eye(4))]
    path = tmp_path / "m.npz"
    data.save_npz(path)
    model = load_model(str(path), device="cpu")
    ref = AnimalModel.from_data(data)
    assert model.faces.device.type == "cpu" and [f.name for f in model.shape_families] == ["dog"]
    betas, pose = torch.randn(2, 4), 0.3 * torch.randn(2, 35, 3)
    torch.testing.assert_close(model(betas, pose).points, ref(betas, pose).points)


def test_bad_specs_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        load_model(str(tmp_path / "missing.npz"))
    with pytest.raises(ValueError, match=r"must end in \.pkl"):
        load_model(str(tmp_path / "model.obj"))


@pytest.mark.skipif(importlib.util.find_spec("smal4v.model.procedural") is not None, reason="procedural model exists")
def test_procedural_missing_is_reported():
    with pytest.raises(ValueError, match="procedural model is not available"):
        load_model("procedural")
