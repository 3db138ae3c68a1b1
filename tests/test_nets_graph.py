"""Graph layers and the coarse-to-fine GCN: against dense computations, shapes, gradients, zero offsets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from smal4v.model import load_model
from smal4v.model.mesh_hierarchy import hierarchy_for_model
from smal4v.nets.coarse_to_fine import CoarseToFineNet
from smal4v.nets.graph import GraphConv, GraphResBlock, normalized_adjacency, sample_vertex_features, sparse_tensor
from smal4v.nets.single_frame import build_single_frame_net
from smal4v.train.c2f_config import GCNConfig

S = 64


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = load_model("procedural")
    return model, hierarchy_for_model(model)


def _dense_normalized(faces: np.ndarray, n: int) -> np.ndarray:
    a = np.eye(n)
    for i, j in ((0, 1), (1, 2), (2, 0)):
        a[faces[:, i], faces[:, j]] = 1.0
        a[faces[:, j], faces[:, i]] = 1.0
    return a / a.sum(1, keepdims=True)


def test_graph_conv_equals_a_dense_computation(setup) -> None:
    _, h = setup
    faces, n = h.faces[2], h.sizes[2]
    norm = normalized_adjacency(h.adjacency(2))
    dense = _dense_normalized(faces, n)
    np.testing.assert_allclose(norm.toarray(), dense, atol=1e-12)
    np.testing.assert_allclose(np.asarray(norm.sum(1)).ravel(), 1.0, atol=1e-12)  # rows sum to one
    assert np.all(norm.diagonal() > 0)  # self-loops
    conv = GraphConv(5, 7, sparse_tensor(norm))
    x = torch.randn(3, n, 5)
    expected = torch.as_tensor(dense, dtype=torch.float32) @ (x @ conv.weight) + conv.bias
    torch.testing.assert_close(conv(x), expected, rtol=1e-5, atol=1e-5)


def test_res_block_shape_and_skip(setup) -> None:
    _, h = setup
    adj = sparse_tensor(normalized_adjacency(h.adjacency(3)))
    block = GraphResBlock(16, 24, adj)
    assert block(torch.randn(2, h.sizes[3], 16)).shape == (2, h.sizes[3], 24)
    same = GraphResBlock(16, 16, adj)
    for p in (same.lin2.weight, same.lin2.bias):  # the residual branch off: the block is the identity
        torch.nn.init.zeros_(p)
    x = torch.randn(2, h.sizes[3], 16)
    torch.testing.assert_close(same(x), x)


def test_vertex_features_are_the_maps_at_pixel_centres() -> None:
    maps = [torch.randn(2, 4, 16, 16), torch.randn(2, 3, 8, 8)]
    # pixel (row 5, col 9) of the 16-px map at crop pixel centre ((9 + 0.5) * 4, (5 + 0.5) * 4) of a 64-px crop
    xy = torch.tensor([[[(9 + 0.5) * 4, (5 + 0.5) * 4]]]).expand(2, 1, 2)
    out = sample_vertex_features(maps, xy, S)
    assert out.shape == (2, 1, 7)
    torch.testing.assert_close(out[:, 0, :4], maps[0][:, :, 5, 9])
    # on the 8-px map it lies at (col 4.25, row 2.25) in pixel-centre units: bilinear weights
    m = maps[1]
    expected = (0.75 * 0.75 * m[:, :, 2, 4] + 0.75 * 0.25 * m[:, :, 2, 5] + 0.25 * 0.75 * m[:, :, 3, 4]
                + 0.25 * 0.25 * m[:, :, 3, 5])
    torch.testing.assert_close(out[:, 0, 4:], expected)
    assert sample_vertex_features(maps, torch.full((2, 1, 2), -50.0), S).abs().max() == 0  # outside: zeros


def _net(setup, **gcn) -> CoarseToFineNet:
    model, h = setup
    coarse = build_single_frame_net({"image_size": S, "feature_dim": 32}, model)
    return CoarseToFineNet(coarse, h, GCNConfig(**{"channels": 16, "head_channels": [16, 8], **gcn}))


def test_untrained_gcn_gives_zero_offsets_and_the_coarse_mesh_exactly(setup) -> None:
    model, h = setup
    net = _net(setup)
    images = torch.rand(2, 3, S, S)
    params, offsets = net(images, model)
    assert offsets.shape == (2, h.sizes[0], 3) and offsets.abs().max() == 0
    coarse = model(params.betas, params.pose, params.trans).vertices
    refined = model(params.betas, params.pose, params.trans, None, offsets).vertices
    torch.testing.assert_close(refined, coarse, rtol=0, atol=0)


def test_gradients_reach_the_local_feature_maps_unless_detached(setup) -> None:
    model, h = setup
    for detach in (False, True):
        torch.manual_seed(1)
        net = _net(setup, detach_features=detach)
        torch.nn.init.normal_(net.refiner.out.weight, std=0.1)  # non-zero offsets
        params, features = net.encode(torch.rand(2, 3, S, S))
        for m in features.maps:
            m.retain_grad()
        vertices = model(params.betas, params.pose, params.trans).vertices.detach()  # only the image features
        offsets = net.offsets(features, vertices, params.focal.detach())
        assert offsets.shape == (2, h.sizes[0], 3) and offsets.abs().max() > 0
        offsets.pow(2).sum().backward()
        grads = [m.grad for m in features.maps]
        if detach:
            assert all(g is None or g.abs().max() == 0 for g in grads)
        else:
            assert all(g is not None and g.abs().max() > 0 for g in grads)


def test_symmetric_offsets_mirror_left_and_right(setup) -> None:
    model, h = setup
    torch.manual_seed(2)
    net = _net(setup)
    torch.nn.init.normal_(net.refiner.out.weight, std=0.1)
    _, offsets = net(torch.rand(1, 3, S, S), model)
    partners = net.partners
    torch.testing.assert_close(offsets[:, partners] * torch.tensor([1.0, -1.0, 1.0]), offsets, rtol=1e-5, atol=1e-7)
    assert offsets.abs().max() > 1e-4
