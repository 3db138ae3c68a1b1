"""Vertex-offset regularisers against hand computations on small meshes."""

import torch

from smal4v.train.vertex_offsets import OffsetRegularizer, uniform_laplacian

# a square split into two triangles: vertex 0 and 2 have 3 neighbours, 1 and 3 have 2
SQUARE = torch.tensor([[0, 1, 2], [0, 2, 3]])


def test_laplacian_is_vertex_minus_neighbour_mean():
    L = uniform_laplacian(SQUARE, 4).to_dense()
    x = torch.tensor([[1.0], [2.0], [4.0], [8.0]])
    expected = torch.tensor([[1 - (2 + 4 + 8) / 3], [2 - (1 + 4) / 2], [4 - (1 + 2 + 8) / 3], [8 - (1 + 4) / 2]])
    assert torch.allclose(L @ x, expected)
    assert torch.allclose(L.sum(1), torch.zeros(4), atol=1e-6)  # constant offsets cost nothing


def test_regularizer_terms():
    reg = OffsetRegularizer(SQUARE, 4)
    shift = torch.ones(4, 3) * 0.5  # a rigid shift: smooth, not small
    terms = reg(shift)
    assert torch.isclose(terms["offset_laplacian"], torch.tensor(0.0), atol=1e-7)
    assert torch.isclose(terms["offset_norm"], torch.tensor(0.75))
    spike = torch.zeros(4, 3)
    spike[1, 2] = 1.0  # vertex 1 up by 1: L rows give 1 at vertex 1, -1/3 at vertices 0 and 2
    terms = reg(spike)
    assert torch.isclose(terms["offset_laplacian"], torch.tensor((1 + 2 / 9) / 4))
    assert torch.isclose(terms["offset_norm"], torch.tensor(0.25))


def test_gradient_flows_to_the_offsets():
    offsets = torch.zeros(4, 3, requires_grad=True)
    reg = OffsetRegularizer(SQUARE, 4)
    with torch.no_grad():
        offsets[2, 0] = 0.3
    sum(reg(offsets).values()).backward()
    assert offsets.grad is not None and offsets.grad[2, 0] > 0
