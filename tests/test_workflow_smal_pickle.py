"""The licensed-SMAL path end to end: a pickle in the exact SMAL layout (METHOD.md 1.1: 3889
vertices, 7774 faces, 41 shape directions, 306 pose directions, a 35 x 3889 scipy-sparse
J_regressor, chumpy-pickled arrays) and its shape-family data file, random but valid, drive the
test workflow through real Snakemake with ``model:`` pointing at it."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
import torch
from scipy.spatial import ConvexHull

from smal4v.data import artifacts
from smal4v.model import load_model
from smal4v.model.model_data import SMAL_JOINT_NAMES
from test_model_smal_pickle import PARENTS, Ch, fake_chumpy  # noqa: F401 (fixture)
from workflow_helpers import TEST_CONFIG, check, copy_workflow, snakemake

pytestmark = pytest.mark.slow

N_VERTS, N_FACES, N_BETAS, N_JOINTS = 3889, 7774, 41, 35


def smal_sized_layout(seed: int = 0) -> dict:
    """The SMAL model's arrays at their real sizes: a closed genus-0 mesh (the convex hull of
    3889 points on an animal-proportioned ellipsoid has exactly 2V - 4 = 7774 faces), joints
    regressed from the vertices nearest the procedural model's rest joints, skinning weights
    from the distances to them, small random shape and pose directions."""
    rng = np.random.default_rng(seed)
    procedural = load_model("procedural")
    rest = procedural(torch.zeros(1, procedural.num_betas), torch.zeros(1, N_JOINTS, 3))
    rest_joints = rest.joints[0].numpy().astype(np.float64)
    centre, half = rest_joints.mean(0), (rest_joints.max(0) - rest_joints.min(0)) / 2 * 1.15 + 0.02
    sphere = rng.normal(size=(N_VERTS, 3))
    sphere /= np.linalg.norm(sphere, axis=1, keepdims=True)
    verts = centre + sphere * half
    faces = ConvexHull(sphere).simplices.astype(np.int64)
    normals = np.cross(sphere[faces[:, 1]] - sphere[faces[:, 0]], sphere[faces[:, 2]] - sphere[faces[:, 0]])
    inward = (normals * sphere[faces].mean(1)).sum(1) < 0
    faces[inward] = faces[inward][:, ::-1]  # outward-facing triangles
    nearest = np.argsort(np.linalg.norm(verts[None] - rest_joints[:, None], axis=-1), axis=1)[:, :8]
    regressor = scipy.sparse.csc_matrix((np.full(N_JOINTS * 8, 1 / 8), (np.repeat(np.arange(N_JOINTS), 8), nearest.ravel())),
                                        shape=(N_JOINTS, N_VERTS))
    dist = np.linalg.norm(verts[:, None] - rest_joints[None], axis=-1)
    weights = np.exp(-((dist / dist.min(1, keepdims=True)) ** 2) * 4)
    weights /= weights.sum(1, keepdims=True)
    shapedirs = np.einsum("vi,kij->vjk", verts - centre, rng.normal(scale=0.03, size=(N_BETAS, 3, 3)))
    kintree = np.stack([np.array(PARENTS) % (2**32), np.arange(N_JOINTS)]).astype(np.int64)
    return {"v_template": verts, "f": faces.astype(np.uint32), "shapedirs": shapedirs,
            "posedirs": rng.normal(scale=1e-3, size=(N_VERTS, 3, (N_JOINTS - 1) * 9)),
            "J_regressor": regressor, "kintree_table": kintree, "weights": weights, "bs_type": "lrotmin"}


def write_smal_files(folder, Ch) -> str:
    """``my_smpl_00781_4_all.pkl`` (chumpy-pickled, protocol 2) and its shape-family sibling."""
    layout = smal_sized_layout()
    model = {**layout, "shapedirs": Ch(layout["shapedirs"]), "weights": Ch(layout["weights"]),
             "posedirs": Ch(layout["posedirs"])}
    path = folder / "my_smpl_00781_4_all.pkl"
    with open(path, "wb") as fh:
        pickle.dump(model, fh, protocol=2)
    rng = np.random.default_rng(1)
    covs = [np.cov(rng.normal(size=(N_BETAS, 6))) * 0.1 for _ in range(5)]  # rank-deficient, like SMAL's
    means = np.zeros((5, N_BETAS))
    with open(folder / "my_smpl_data_00781_4_all.pkl", "wb") as fh:
        pickle.dump({"cluster_means": Ch(means), "cluster_cov": covs, "toys_betas": np.zeros((N_BETAS, N_BETAS)),
                     "eigenvalues": np.ones(N_BETAS)}, fh, protocol=2)
    return str(path)


def test_layout_has_the_real_smal_sizes_and_loads(tmp_path, fake_chumpy):  # noqa: F811
    path = write_smal_files(tmp_path, fake_chumpy)
    model = load_model(path)
    assert model.num_vertices == N_VERTS and model.faces.shape == (N_FACES, 3) and model.num_joints == N_JOINTS
    assert model.joint_names == SMAL_JOINT_NAMES and [f.name for f in model.shape_families][3] == "bovidae"
    faces = model.faces.numpy()
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    assert len(np.unique(edges, axis=0)) == 11661  # SMAL's edge count: V - E + F = 2 (genus 0)


def test_test_workflow_runs_on_the_smal_pickle(tmp_path, fake_chumpy):  # noqa: F811
    """Demo videos rendered with the SMAL mesh, base (3D supervision) and parent training,
    predictions and evaluation of the train+test video cows_00 (online stages are left out to
    keep the test short; they use the model the same way)."""
    work = copy_workflow(tmp_path / "work")
    path = write_smal_files(tmp_path, fake_chumpy)
    (work / "smal.yaml").write_text(
        f"model: {path}\n"
        "demo: {generic: {families: [canidae, bovidae]}, dataset: {families: [bovidae]}}\n"
        "generic_images: {families: [canidae, bovidae]}\n"
        "evaluate: {variants: [base, parent]}\n"
        "silhouettes: {method: flow}\n")
    target = "results/sequences/cows_00/metrics.csv"
    check(snakemake(work, target, "--cores", "2", "--configfile", TEST_CONFIG, "smal.yaml", timeout=900))
    seq = work / "results" / "sequences" / "cows_00"
    gt = artifacts.read_artifact(seq / "ground_truth.h5", "ground_truth", ["vertices"])
    assert gt["vertices"].shape[1:] == (N_VERTS, 3)  # the demo video was rendered with the SMAL mesh
    for variant in ("base", "parent"):
        pred = artifacts.read_artifact(seq / f"predictions_{variant}.h5", "predictions", ["vertices", "silhouettes"])
        assert pred["vertices"].shape[1:] == (N_VERTS, 3) and np.isfinite(pred["vertices"]).all()
        assert pred["silhouettes"].any()
    table = pd.read_csv(seq / "metrics.csv")
    assert set(table.variant) == {"base", "parent", "keypoints_interpolated"}
    assert np.isfinite(table[table.metric == "iou"].value).all()
