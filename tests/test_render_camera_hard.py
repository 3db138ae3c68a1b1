"""Camera projection and the exact rasteriser against hand computations."""

import math

import numpy as np
import pytest
import torch

from smal4v.render import Camera, rasterize_depth, rasterize_hard


def test_project_matches_hand_computation():
    cam = Camera(torch.tensor([100.0, 50.0]), (60, 80))
    pts = torch.tensor([[[1.0, -2.0, 4.0], [0.0, 0.0, 2.0]], [[2.0, 1.0, 5.0], [-1.0, 3.0, 1.0]]])
    uv = cam.project(pts)
    expect = torch.tensor([[[40 + 25.0, 30 - 50.0], [40.0, 30.0]], [[40 + 20.0, 30 + 10.0], [40 - 50.0, 30 + 150.0]]])
    assert torch.allclose(uv, expect)
    cam2 = Camera(10.0, 32, principal=torch.tensor([1.0, 2.0]))
    assert torch.allclose(cam2.project(torch.tensor([[[0.5, 0.5, 0.0]]])), torch.tensor([[[1.0 + 5e6, 2.0 + 5e6]]]))
    with pytest.raises(ValueError):
        cam.project(torch.zeros(2, 3))


def _square(x0, y0, x1, y1, z=2.0, f=100.0, size=(40, 50)):
    """Camera-frame square whose projection is the pixel rectangle [x0,x1]x[y0,y1]."""
    cam = Camera(f, size)
    cx, cy = size[1] / 2, size[0] / 2
    px = torch.tensor([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=torch.float64)
    v = torch.cat([(px - torch.tensor([cx, cy])) * z / f, torch.full((4, 1), z)], 1)
    return v.unsqueeze(0), torch.tensor([[0, 1, 2], [0, 2, 3]]), cam


def test_hard_square_pixel_count():
    v, f, cam = _square(3.2, 5.7, 20.4, 11.1)
    mask = rasterize_hard(v, f, cam)[0].numpy()
    expect = np.zeros((40, 50), bool)
    expect[6:11, 3:20] = True   # centres j+.5 in [3.2, 20.4] -> j = 3..19; i+.5 in [5.7, 11.1] -> i = 6..10
    assert (mask == expect).all()


def test_hard_disc_area_and_orientation_independent():
    n, r = 200, 0.5
    ang = torch.arange(n, dtype=torch.float64) * 2 * math.pi / n
    v = torch.cat([torch.tensor([[0.0, 0, 2]]), torch.stack([r * ang.cos(), r * ang.sin(), torch.full_like(ang, 2)], 1)])
    f = torch.stack([torch.zeros(n, dtype=torch.long), torch.arange(n) + 1, (torch.arange(n) + 1) % n + 1], 1)
    cam = Camera(160.0, 96)
    a = rasterize_hard(v[None], f, cam)[0]
    b = rasterize_hard(v[None], f.flip(1), cam)[0]
    assert torch.equal(a, b)
    radius_px = 160 * r / 2
    assert abs(a.sum().item() - math.pi * radius_px ** 2) < 2 * math.pi * radius_px * 0.5


def test_depth_nearer_triangle_wins():
    cam = Camera(50.0, 32)
    far = torch.tensor([[-1.0, -1, 4], [1, -1, 4], [0, 1, 4]])
    near = torch.tensor([[-0.2, -0.5, 2], [0.6, -0.5, 2], [0.2, 0.5, 2]])
    v = torch.cat([far, near])
    f = torch.tensor([[0, 1, 2], [3, 4, 5]])
    r = rasterize_depth(v, f, cam)
    near_mask = rasterize_hard(near[None], torch.tensor([[0, 1, 2]]), cam)[0]
    assert near_mask.sum() > 10
    assert (r.face_index[near_mask] == 1).all()
    assert torch.allclose(r.depth[near_mask], torch.tensor(2.0))
    only_far = (r.face_index == 0)
    assert only_far.sum() > 10 and torch.allclose(r.depth[only_far], torch.tensor(4.0))
    assert torch.isinf(r.depth[r.face_index < 0]).all()
    assert torch.allclose(r.bary[r.face_index >= 0].sum(1), torch.tensor(1.0))


def test_depth_ties_go_to_the_smallest_face_id():
    """Coincident faces tie in depth everywhere: the pixel belongs to the lower face id, not to
    whichever write an index assignment with repeated pixels happens to keep."""
    cam = Camera(50.0, 32)
    tri = torch.tensor([[-1.0, -1, 4], [1, -1, 4], [0, 1, 4]])
    v = torch.cat([tri, tri, tri])
    f = torch.tensor([[6, 7, 8], [0, 1, 2], [3, 4, 5]])  # face ids 0, 1, 2 with equal depth
    r = rasterize_depth(v, f, cam)
    covered = r.face_index >= 0
    assert covered.sum() > 10 and (r.face_index[covered] == 0).all()
