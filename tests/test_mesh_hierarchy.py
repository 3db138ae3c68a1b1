"""Mesh hierarchy of the coarse-to-fine GCN: decimation levels, D/U matrices, adjacency, cache."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from smal4v.model import load_model
from smal4v.model.mesh_hierarchy import MeshHierarchy, build_hierarchy, hierarchy_for_model, load_for_model, selection_asymmetry
from smal4v.model.procedural.mesh import mirror_partners


@pytest.fixture(scope="module")
def model():
    return load_model("procedural")


@pytest.fixture(scope="module")
def hierarchy(model) -> MeshHierarchy:
    return hierarchy_for_model(model, levels=4, factor=4.0)


def test_levels_are_a_quarter_of_the_one_above(hierarchy) -> None:
    sizes = hierarchy.sizes
    assert sizes[0] == 4498 and len(sizes) == 5
    for fine, coarse in zip(sizes, sizes[1:]):
        assert abs(coarse - fine / 4) <= 0.1 * fine / 4, sizes
    for k, (v, f) in enumerate(zip(hierarchy.vertices, hierarchy.faces)):
        assert f.min() >= 0 and f.max() == len(v) - 1, k  # every vertex is used by a face
        assert len(f) == 2 * len(v) - 4, k  # still a closed genus-0 surface (Euler)


def test_down_selects_vertices_and_up_is_barycentric(hierarchy) -> None:
    for k, (d, u) in enumerate(zip(hierarchy.down, hierarchy.up)):
        fine, coarse = hierarchy.vertices[k], hierarchy.vertices[k + 1]
        assert np.array_equal(d.getnnz(axis=1), np.ones(len(coarse))) and np.all(d.data == 1)
        np.testing.assert_array_equal(d @ fine, coarse)  # coarse vertices are fine vertices
        assert np.array_equal(u.getnnz(axis=1), np.full(len(fine), 3)) and u.data.min() >= 0
        np.testing.assert_allclose(np.asarray(u.sum(1)).ravel(), 1.0, atol=1e-9)
        # a selected vertex comes back as itself
        np.testing.assert_allclose((u @ d)[d.indices][:, d.indices].toarray(), np.eye(len(coarse)), atol=1e-6)


def test_down_then_up_reproduces_a_smooth_function(hierarchy) -> None:
    v = hierarchy.vertices[0]
    f = np.sin(3 * v[:, 0]) + v[:, 2] ** 2 + 0.5 * v[:, 1]
    err = np.abs(hierarchy.up[0] @ (hierarchy.down[0] @ f) - f)
    assert err.mean() < 0.005 * np.ptp(f) and err.max() < 0.05 * np.ptp(f), (err.mean(), err.max(), np.ptp(f))


def test_adjacency_is_symmetric_per_level(hierarchy) -> None:
    for k in range(len(hierarchy.sizes)):
        a = hierarchy.adjacency(k)
        assert (a != a.T).nnz == 0 and a.diagonal().sum() == 0
        assert a.shape == (hierarchy.sizes[k],) * 2 and a.getnnz(axis=1).min() >= 2  # connected (decimation can leave a fold)


def test_same_model_same_file_and_another_mesh_is_refused(model, hierarchy, tmp_path) -> None:
    again = hierarchy_for_model(model, levels=4, factor=4.0)
    hierarchy.save(tmp_path / "a.npz")
    again.save(tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    loaded = load_for_model(tmp_path / "a.npz", model, 4, 4.0)
    assert loaded.sizes == hierarchy.sizes and loaded.key == hierarchy.key
    assert (loaded.up[2] != hierarchy.up[2]).nnz == 0 and np.array_equal(loaded.faces[3], hierarchy.faces[3])
    with pytest.raises(ValueError, match="a.npz was built from another model mesh or settings"):
        load_for_model(tmp_path / "a.npz", model, 3, 4.0)
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        MeshHierarchy.load(tmp_path / "missing.npz")


def test_any_closed_mesh_and_the_measured_asymmetry(hierarchy, model) -> None:
    trimesh = pytest.importorskip("trimesh")
    sphere = trimesh.creation.icosphere(subdivisions=4)  # 2562 vertices
    h = build_hierarchy(sphere.vertices, sphere.faces, levels=3, factor=4.0)
    assert [abs(c - f / 4) <= 0.1 * f / 4 for f, c in zip(h.sizes, h.sizes[1:])] == [True] * 3, h.sizes
    # every vertex its own mirror: nothing is asymmetric
    assert selection_asymmetry(hierarchy, np.arange(hierarchy.sizes[0])) == [0.0] * 4
    # the procedural quadruped is symmetric, its decimation is not (docs/C2F.md)
    partners = mirror_partners(hierarchy.vertices[0], 1e-3 * np.ptp(hierarchy.vertices[0], axis=0).max())
    asym = selection_asymmetry(hierarchy, partners)
    assert all(0.3 < a <= 1.0 for a in asym), asym
    assert isinstance(hierarchy.down[0], sp.csr_matrix)
