"""Synthetic animals outside the shape space: per-animal offsets that are smooth, symmetric, out of
the shape space, and part of the ground truth."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from smal4v.data.artifacts import read_artifact
from smal4v.data.off_model import off_model_offsets, with_offsets
from smal4v.data.synthetic import generate_sequence
from smal4v.model import load_model
from smal4v.model.procedural.mesh import mirror_partners, vertex_adjacency


@pytest.fixture(scope="module")
def model():
    return load_model("procedural")


def test_offsets_are_symmetric_smooth_and_outside_the_shape_space(model) -> None:
    betas = np.zeros(model.num_betas, np.float32)
    offsets = off_model_offsets(model, betas, np.random.default_rng(0), 1.0)
    rest = model.v_template.numpy()
    partners = mirror_partners(rest, 1e-3 * np.ptp(rest, axis=0).max())
    np.testing.assert_allclose(offsets[partners] * [1, -1, 1], offsets, atol=1e-6)
    length = np.ptp(rest[:, 0])
    size = np.linalg.norm(offsets, axis=1)
    assert 0.01 * length < size.max() < 0.2 * length
    # smooth: a vertex differs from its neighbours' mean far less than the offsets themselves
    a = vertex_adjacency(model.faces.numpy(), model.num_vertices)
    rough = np.linalg.norm(offsets - (a @ offsets) / a.sum(1), axis=1)
    assert rough.mean() < 0.2 * size.mean(), (rough.mean(), size.mean())
    # not a shape-space change: the best betas leave most of it unexplained
    dirs = model.shapedirs.numpy().reshape(model.num_betas, -1).T
    fit, *_ = np.linalg.lstsq(dirs, offsets.ravel(), rcond=None)
    residual = np.linalg.norm(offsets.ravel() - dirs @ fit) / np.linalg.norm(offsets)
    assert residual > 0.5, residual
    # per animal: another draw differs
    assert np.abs(off_model_offsets(model, betas, np.random.default_rng(1), 1.0) - offsets).max() > 1e-3


def test_shifted_model_equals_delta_v(model) -> None:
    offsets = off_model_offsets(model, np.zeros(model.num_betas, np.float32), np.random.default_rng(2), 1.0)
    shifted = with_offsets(model, offsets)
    betas, pose = torch.randn(2, model.num_betas) * 0.5, torch.randn(2, model.num_joints, 3) * 0.2
    expected = model(betas, pose, None, None, torch.as_tensor(offsets)[None].expand(2, -1, -1)).vertices
    torch.testing.assert_close(shifted(betas, pose).vertices, expected, rtol=1e-5, atol=1e-6)
    assert torch.equal(model.v_template, load_model("procedural").v_template)  # the original is untouched


def test_generator_stores_the_offsets_in_the_truth(tmp_path, model) -> None:
    cfg = {"n_frames": 2, "image_size": [48, 48], "off_model": 1.0, "write_video": False, "clutter": 5}
    generate_sequence(tmp_path / "off", 4, cfg, family="cow", model=model)
    gt = read_artifact(tmp_path / "off" / "ground_truth.h5", "ground_truth")
    delta_v = torch.as_tensor(gt["delta_v"])
    again = model(torch.as_tensor(gt["betas"]), torch.as_tensor(gt["pose"]), torch.as_tensor(gt["trans"]), None,
                  delta_v[None].expand(2, -1, -1)).vertices
    np.testing.assert_allclose(again.numpy(), gt["vertices"], atol=1e-5)
    assert delta_v.abs().max() > 0.005
    generate_sequence(tmp_path / "plain", 4, {**cfg, "off_model": 0.0}, family="cow", model=model)
    plain = read_artifact(tmp_path / "plain" / "ground_truth.h5", "ground_truth")
    assert "delta_v" not in plain
    np.testing.assert_array_equal(plain["betas"], gt["betas"])  # the same animal from the shape space
