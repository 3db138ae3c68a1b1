"""Shaded renderer: mask equals the exact rasteriser, z order, background, shading direction."""

import numpy as np
import torch

from smal4v.render import Camera, ShadedRenderer, rasterize_hard

from test_render_meshes import ellipsoid


def test_mask_depth_background_and_light():
    v, f = ellipsoid(3, radii=(1.0, 1.0, 1.0), centre=(0.0, 0.0, 4.0))
    cam = Camera(60.0, 64)
    bg = np.full((64, 64, 3), 7, np.uint8)
    res = ShadedRenderer(64).render(v, f, cam, background=bg)
    hard = rasterize_hard(v[None], f, cam)[0].numpy()
    assert (res.mask == hard).all()
    assert (res.image[~res.mask] == 7).all()
    assert np.isinf(res.depth[~res.mask]).all()
    assert res.depth[res.mask].min() >= 3.0 - 1e-3 and res.depth[32, 32] < 3.05
    # light from the upper left: upper-left of the sphere brighter than lower-right
    assert res.image[22, 22].sum() > res.image[42, 42].sum()
    # default colour is the SMAL4V blue, scaled by shading
    px = res.image[res.mask].astype(float)
    assert (px[:, 2] >= px[:, 1]).all() and (px[:, 0] <= 1).all()


def test_nearer_mesh_wins_and_colours():
    a, fa = ellipsoid(2, radii=(2.0, 2.0, 2.0), centre=(0.0, 0.0, 6.0))
    b, fb = ellipsoid(2, radii=(0.3, 0.3, 0.3), centre=(0.0, 0.0, 3.0))
    v = torch.cat([a, b])
    f = torch.cat([fa, fb + a.shape[0]])
    col = torch.cat([torch.tensor([[1.0, 0, 0]]).expand(a.shape[0], 3), torch.tensor([[0, 1.0, 0]]).expand(b.shape[0], 3)])
    res = ShadedRenderer(48).render(v, f, Camera(40.0, 48), vertex_colors=col, ambient=1.0)
    assert tuple(res.image[24, 24]) == (0, 255, 0)          # small near sphere in front
    assert tuple(res.image[24, 14]) == (255, 0, 0)          # big far sphere around it
    assert tuple(res.image[1, 1]) == (0, 0, 0)
