"""Procedural model building: determinism, spec-hash cache, spec errors, and the vertex
correspondence (carrying the template through the primitives' motion)."""

from __future__ import annotations

import time
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from smal4v.model.model_data import SMAL_JOINT_NAMES, ModelData
from smal4v.model.procedural import build_procedural_model, load_procedural, load_spec, spec_hash
from smal4v.model.procedural.mesh import mesh_report
from smal4v.model.procedural.primitives import build_primitives
from smal4v.model.procedural.shape_space import carry, mean_proportions
from smal4v.model.procedural.skeleton import build_skeleton
from smal4v.model.procedural.skinning import membership
from smal4v.model.procedural.spec import deep_merge

J = {n: i for i, n in enumerate(SMAL_JOINT_NAMES)}


def assert_identical(a: ModelData, b: ModelData) -> None:
    for f in fields(ModelData):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y), f.name
        elif f.name == "shape_families":
            for fa, fb in zip(x, y, strict=True):
                assert fa.name == fb.name and np.array_equal(fa.mean, fb.mean) and np.array_equal(fa.cov, fb.cov)
        elif f.name == "pose_prior":
            for k in ("mean", "precision_chol", "limits"):
                assert np.array_equal(getattr(x, k), getattr(y, k)), k
        else:
            assert x == y, f.name


@pytest.fixture(scope="module")
def fast_build(tmp_path_factory) -> tuple[ModelData, float, Path]:
    cache = tmp_path_factory.mktemp("procedural_cache")
    t = time.perf_counter()
    data = load_procedural("fast", cache_dir=cache)
    return data, time.perf_counter() - t, cache


def test_cache_is_written_and_reused(fast_build) -> None:
    built, build_seconds, cache = fast_build
    files = list(cache.glob("fast-*.npz"))
    assert [f.name for f in files] == [f"fast-{spec_hash(load_spec('fast'))}.npz"]
    t = time.perf_counter()
    loaded = load_procedural("fast", cache_dir=cache)
    assert time.perf_counter() - t < build_seconds / 4
    assert_identical(built, loaded)


def test_build_is_deterministic(fast_build) -> None:
    built, _, _ = fast_build
    assert_identical(built, build_procedural_model(load_spec("fast")))
    rep = mesh_report(built.v_template, built.faces)
    assert rep["closed_manifold"] and rep["oriented"] and rep["euler"] == 2
    assert 3000 <= rep["vertices"] <= 6000


def test_spec_hash_tracks_content() -> None:
    spec = load_spec()
    assert spec_hash(spec) == spec_hash(load_spec())
    changed = deep_merge(spec, {"proportions": {"tail_length": {"mean": 0.41}}})
    assert spec_hash(changed) != spec_hash(spec)
    assert spec_hash(load_spec("fast")) != spec_hash(spec)


def test_bad_specs_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown variant 'giraffe'"):
        load_spec("giraffe")
    bad = tmp_path / "bad.yaml"
    bad.write_text("proportions: {}\n")
    with pytest.raises(ValueError, match=r"bad\.yaml.*missing section 'skeleton'"):
        load_spec(path=bad)
    spec = deep_merge(load_spec(), {"families": {"members": {"dog": {"wing_span": [1.0, 0.1]}}}})
    with pytest.raises(ValueError, match="wing_span"):
        build_procedural_model(deep_merge(spec, {"shape_space": {"num_samples": 30, "regressor_samples": 5, "num_betas": 10}}))
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_spec(path=tmp_path / "nope.yaml")


def test_carry_is_identity_at_the_mean_and_moves_the_right_parts(fast_build) -> None:
    data, _, _ = fast_build
    spec = load_spec("fast")
    props0 = mean_proportions(spec)
    j0, m0 = build_skeleton(props0, spec["skeleton"])
    prims0 = build_primitives(j0, m0, props0, spec["parts"])
    w = membership(prims0, data.v_template, data.faces, spec["skinning"])
    v0, _ = carry(spec, prims0, data.v_template, w, props0)
    np.testing.assert_allclose(v0[0], data.v_template, atol=1e-12)
    v = data.v_template
    tail = data.weights[:, [J[f"Tail{k}"] for k in range(1, 8)]].sum(1) > 0.99
    # longer tail: only tail (and rump-blend) vertices move, the tip moves backwards
    long_tail = dict(props0, tail_length=props0["tail_length"] * 1.5)
    vt, _ = carry(spec, prims0, v, w, long_tail)
    moved = np.linalg.norm(vt[0] - v, axis=1) > 1e-9
    assert moved[tail].all() and np.all(v[moved, 0] < j0[0, J["root"], 0])
    tip = v[:, 0].argmin()
    _, mt = build_skeleton(long_tail, spec["skeleton"])
    np.testing.assert_allclose(vt[0, tip] - v[tip], mt["tail_tip"][0] - m0["tail_tip"][0], atol=0.01)
    # longer legs: the paws go down by the leg-length change (both pairs: the torso stays level)
    long_legs = dict(props0, leg_length_front=props0["leg_length_front"] + 0.1, leg_length_back=props0["leg_length_back"] + 0.1)
    vl, jl = carry(spec, prims0, v, w, long_legs)
    assert abs((vl[0, :, 2].min() - v[:, 2].min()) + 0.1) < 0.01
    np.testing.assert_allclose(jl[0, J["LFoot"], 2] - j0[0, J["LFoot"], 2], -0.1, atol=1e-9)
