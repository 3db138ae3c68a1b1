"""Soft silhouette renderer against the exact rasteriser, analytic areas and finite differences."""

import math

import pytest
import torch

from smal4v.render import Camera, SoftSilhouetteRenderer, make_silhouette_renderer, rasterize_hard
from smal4v.render.neural_renderer_backend import neural_renderer_available
from smal4v.render.soft_rasterizer import face_neighbours

from test_render_meshes import ellipsoid, polygon_fan


def _iou(a, b):
    return ((a & b).sum() / (a | b).sum()).item()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_soft_matches_hard_iou(dtype):
    v, f = ellipsoid(3, dtype=dtype)
    verts = torch.stack([v, v + torch.tensor([0.3, -0.2, 0.5], dtype=dtype)])   # batch of 2
    cam = Camera(torch.tensor([160.0, 200.0], dtype=dtype), 128)   # mesh fills ~60% of the width
    occ = SoftSilhouetteRenderer(128)(verts, f, cam)
    hard = rasterize_hard(verts, f, cam)
    assert occ.shape == (2, 128, 128) and occ.dtype == dtype
    for b in range(2):
        assert _iou(occ[b] > 0.5, hard[b]) >= 0.97
    assert occ.min() >= 0 and occ.max() <= 1


def test_culling_on_off_agree():
    v, f = ellipsoid(3)
    cam = Camera(150.0, 96)
    on = SoftSilhouetteRenderer(96, cull_backfaces=True)(v[None], f, cam)
    off = SoftSilhouetteRenderer(96, cull_backfaces=False)(v[None], f, cam)
    hard = rasterize_hard(v[None], f, cam)
    assert _iou(on > 0.5, off > 0.5) >= 0.97
    assert _iou(off > 0.5, hard) >= 0.95
    # culling drops back faces: an open polygon seen from behind renders empty
    pv, pf = polygon_fan(12, 0.5, 3.0)
    assert SoftSilhouetteRenderer(96)(pv[None], pf, cam).sum() > 100
    assert SoftSilhouetteRenderer(96)(pv[None], pf.flip(1), cam).sum() == 0
    assert SoftSilhouetteRenderer(96, cull_backfaces=False)(pv[None], pf.flip(1), cam).sum() > 100


def test_outline_bias_default_sigma():
    n, r, z, focal, size = 96, 0.6, 3.0, 150.0, 96
    v, f = polygon_fan(n, r, z)
    cam = Camera(focal, size)
    occ = SoftSilhouetteRenderer(size)(v[None], f, cam)
    rp = focal * r / z
    exact_area = 0.5 * n * rp ** 2 * math.sin(2 * math.pi / n)
    perimeter = 2 * n * rp * math.sin(math.pi / n)
    bias_px = (occ.sum().item() - exact_area) / perimeter
    assert abs(bias_px) < 0.25, bias_px


def test_gradient_matches_finite_differences():
    torch.manual_seed(0)
    v, f = ellipsoid(1, radii=(1.0, 0.7, 0.8), centre=(0.1, -0.05, 4.0))
    cam = Camera(torch.tensor([60.0], dtype=torch.float64), 40)
    rend = SoftSilhouetteRenderer(40, sigma=1.0)
    weights = torch.rand(1, 40, 40, dtype=torch.float64)
    loss = lambda x: (rend(x, f, cam) * weights).sum()  # noqa: E731
    x = v[None].clone().requires_grad_(True)
    loss(x).backward()
    eps = 1e-5
    checked = 0
    for vi in [0, 3, 7, 11]:
        for c in range(3):
            xp, xm = v[None].clone(), v[None].clone()
            xp[0, vi, c] += eps
            xm[0, vi, c] -= eps
            fd = (loss(xp) - loss(xm)).item() / (2 * eps)
            an = x.grad[0, vi, c].item()
            assert abs(an - fd) <= 1e-4 * max(1.0, abs(fd)), (vi, c, an, fd)
            checked += abs(fd) > 1e-3
    assert checked >= 4


def test_empty_and_grad_shape():
    v, f = ellipsoid(1, centre=(100.0, 0.0, 5.0))     # far outside the image
    x = v[None].clone().requires_grad_(True)
    occ = SoftSilhouetteRenderer(32)(x, f, Camera(50.0, 32))
    assert occ.sum() == 0
    occ.sum().backward()
    assert x.grad.shape == x.shape and (x.grad == 0).all()


def test_face_neighbours_closed_mesh():
    _, f = ellipsoid(1)
    nb = face_neighbours(f)
    assert (nb >= 0).all()
    for fi in [0, 5, 17]:
        for k in range(3):
            a, b = f[fi, k].item(), f[fi, (k + 1) % 3].item()
            assert {a, b} <= set(f[nb[fi, k]].tolist())


def test_backend_selection():
    assert isinstance(make_silhouette_renderer("soft", 64, 0.2), SoftSilhouetteRenderer)
    if not neural_renderer_available():
        assert isinstance(make_silhouette_renderer("auto", 64), SoftSilhouetteRenderer)
        with pytest.raises(RuntimeError, match="neural_renderer"):
            make_silhouette_renderer("neural_renderer", 64)
    with pytest.raises(ValueError, match="unknown"):
        make_silhouette_renderer("opengl", 64)


def test_no_cracks_inside_and_sigma_per_call():
    v, f = ellipsoid(3)
    cam = Camera(160.0, 96)
    rend = SoftSilhouetteRenderer(96)
    occ = rend(v[None], f, cam)[0]
    hard = rasterize_hard(v[None], f, cam)[0]
    inner = hard & ~torch.nn.functional.max_pool2d((~hard)[None, None].double(), 3, 1, 1)[0, 0].bool()
    assert occ[inner].min() > 0.99          # shared edges do not show as soft cracks
    blurry = rend(v[None], f, cam, sigma=2.0)[0]
    partial = lambda o: ((o > 0.05) & (o < 0.95)).sum().item()  # noqa: E731
    assert partial(blurry) > 3 * partial(occ)
    assert rend.sigma == 0.1
