"""SMAL pickle loader: SMAL layout with chumpy-like objects, and refusal of malicious pickles."""

from __future__ import annotations

import os
import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse
import torch

from smal4v.model import AnimalModel, load_model
from smal4v.model.smal_pickle import UnsafePickleError, load_smal_pickle, safe_load_pickle

PARENTS = [-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 6, 11, 12, 13, 6, 15, 0, 17, 18, 19, 0, 21, 22, 23,
           0, 25, 26, 27, 28, 29, 30, 16, 16, 16]


class Ch:
    """Stand-in for chumpy.ch.Ch: pickled (protocol 2) as chumpy.ch.Ch with state {'x': array}."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = x

    def __getstate__(self) -> dict:
        return {"x": self.x, "_dirty_vars": set(), "_parents": {}}


@pytest.fixture
def fake_chumpy(monkeypatch):
    chumpy = types.ModuleType("chumpy")
    ch = types.ModuleType("chumpy.ch")
    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    ch.Ch = Ch
    chumpy.ch = ch
    monkeypatch.setitem(sys.modules, "chumpy", chumpy)
    monkeypatch.setitem(sys.modules, "chumpy.ch", ch)
    return Ch


def smal_layout(V: int = 50, J: int = 35, NB: int = 41, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    weights = rng.uniform(size=(V, J))
    weights /= weights.sum(1, keepdims=True)
    jreg = scipy.sparse.random(J, V, density=0.1, random_state=seed, format="csc")
    kintree = np.stack([np.array(PARENTS[:J]) % (2**32), np.arange(J)]).astype(np.int64)
    return {
        "v_template": rng.normal(size=(V, 3)),
        "f": rng.integers(0, V, size=(90, 3)).astype(np.uint32),
        "shapedirs": rng.normal(size=(V, 3, NB)),
        "posedirs": rng.normal(size=(V, 3, (J - 1) * 9)),
        "J_regressor": jreg,
        "kintree_table": kintree,
        "weights": weights,
        "bs_type": "lrotmin",
    }


def write_model(path, layout: dict, Ch) -> None:
    d = dict(layout)
    d["shapedirs"] = Ch(layout["shapedirs"])
    d["weights"] = Ch(layout["weights"])
    with open(path, "wb") as fh:
        pickle.dump(d, fh, protocol=2)


def test_loads_smal_layout_with_chumpy_and_sparse(tmp_path, fake_chumpy):
    layout = smal_layout()
    path = tmp_path / "my_smpl_test.pkl"
    write_model(path, layout, fake_chumpy)
    rng = np.random.default_rng(1)
    means = rng.normal(size=(5, 41))
    covs = [np.cov(rng.normal(size=(41, 4))) for _ in range(5)]  # rank-deficient like SMAL's
    with open(tmp_path / "data.pkl", "wb") as fh:
        pickle.dump({"cluster_means": fake_chumpy(means), "cluster_cov": covs, "eigenvalues": np.ones(41)}, fh, protocol=2)
    d = load_smal_pickle(path, data_path=tmp_path / "data.pkl")
    V = 50
    np.testing.assert_array_equal(d.v_template, layout["v_template"])
    np.testing.assert_array_equal(d.faces, layout["f"].astype(np.int64))
    np.testing.assert_array_equal(d.shapedirs, layout["shapedirs"].transpose(2, 0, 1))
    assert d.posedirs.shape == (34 * 9, V, 3)
    np.testing.assert_array_equal(d.posedirs[17], layout["posedirs"][:, :, 17])
    np.testing.assert_array_equal(d.J_regressor, layout["J_regressor"].toarray())
    np.testing.assert_array_equal(d.weights, layout["weights"])
    assert d.parents.tolist() == PARENTS and d.joint_names[33:] == ["LEar", "REar"]
    # only the 3889-vertex SMAL mesh has known vertex ids; the neck top is found by geometry on any
    neck = layout["J_regressor"].toarray()[15] @ layout["v_template"]
    above = np.flatnonzero(layout["v_template"][:, 2] > neck[2])
    nearest = above[np.argmin(np.hypot(*(layout["v_template"][above, :2] - neck[:2]).T))]
    assert d.surface_points == {"neck_top": nearest}
    assert [f.name for f in d.shape_families] == ["felidae", "canidae", "equidae", "bovidae", "hippo"]
    np.testing.assert_array_equal(d.shape_families[3].mean, means[3])
    np.testing.assert_array_equal(d.shape_families[3].cov, covs[3])
    # the result drives the model
    model = AnimalModel.from_data(d)
    out = model(torch.zeros(1, 20), torch.zeros(1, 35, 3))
    torch.testing.assert_close(out.vertices[0], torch.tensor(layout["v_template"], dtype=torch.float32))


def test_33_joint_model_and_load_model_picks_data_sibling(tmp_path, fake_chumpy):
    layout = smal_layout(J=33, NB=10)
    path = tmp_path / "my_smpl_33.pkl"
    write_model(path, layout, fake_chumpy)
    with open(tmp_path / "my_smpl_data_33.pkl", "wb") as fh:
        pickle.dump({"cluster_means": np.zeros((5, 10)), "cluster_cov": [np.eye(10)] * 5}, fh, protocol=2)
    model = load_model(str(path))
    assert model.num_joints == 33 and model.joint_names[-1] == "Mouth"
    assert len(model.shape_families) == 5 and model.num_betas == 10


def test_missing_key_and_missing_file_are_named(tmp_path, fake_chumpy):
    layout = smal_layout()
    del layout["kintree_table"]
    path = tmp_path / "broken.pkl"
    write_model(path, layout, fake_chumpy)
    with pytest.raises(KeyError, match=r"broken\.pkl.*'kintree_table'"):
        load_smal_pickle(path)
    with pytest.raises(FileNotFoundError, match="nowhere.pkl"):
        load_model(str(tmp_path / "nowhere.pkl"))
    bad = smal_layout()
    bad["shapedirs"] = np.zeros((7, 3, 4))
    write_model(tmp_path / "bad_shape.pkl", bad, fake_chumpy)
    with pytest.raises(ValueError, match=r"bad_shape\.pkl.*'shapedirs'"):
        load_smal_pickle(tmp_path / "bad_shape.pkl")


class Evil:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_malicious_pickle_is_refused_before_running(tmp_path):
    target = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    with open(path, "wb") as fh:
        pickle.dump({"v_template": np.zeros((3, 3)), "f": Evil(str(target))}, fh, protocol=2)
    with pytest.raises(UnsafePickleError, match=r"evil\.pkl.*(posix|os|nt)\.system"):
        load_smal_pickle(path)
    assert not target.exists()


@pytest.mark.parametrize("obj", [eval, getattr, __import__, print])
def test_builtins_are_refused(tmp_path, obj):
    path = tmp_path / "builtin.pkl"
    with open(path, "wb") as fh:
        pickle.dump({"x": obj}, fh, protocol=2)
    with pytest.raises(UnsafePickleError, match=rf"(__builtin__|builtins)\.{obj.__name__}"):
        safe_load_pickle(path)
