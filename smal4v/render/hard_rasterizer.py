"""Exact (non-differentiable) pixel-centre rasterisation: coverage masks and a z-buffer.

A pixel belongs to a triangle iff its centre ``(j + 0.5, i + 0.5)`` lies inside or on the
projected triangle (edge functions all of the triangle's sign). Both orientations count, so
this is the reference silhouette for any mesh. Used as the ground truth for the soft
renderer's tests and by :mod:`smal4v.render.shaded`.

Implementation: faces are enumerated against the pixel centres of their bounding boxes in
chunks of similar box size (dense ``(faces, box pixels)`` blocks), so the cost follows the
covered area. Plain edge-function maths, independent of the soft renderer's distance code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch

from .camera import Camera

_PAIR_BUDGET = 1 << 22


@dataclass
class DepthRaster:
    """Z-buffer result for one image: face index (-1 empty), perspective-correct barycentrics
    of that face's vertices, and camera-frame depth z (inf where empty)."""

    face_index: torch.Tensor   # (H, W) long
    bary: torch.Tensor         # (H, W, 3) float
    depth: torch.Tensor        # (H, W) float, inf where empty


def _face_pixel_pairs(p2d: torch.Tensor, faces: torch.Tensor, height: int, width: int
                      ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Yield ``(face ids (P,), pixel ids (P,), screen barycentrics (P, 3))`` of covered pixels.

    ``p2d``: ``(N, 2)`` pixel coordinates of one image; ``faces``: ``(F, 3)`` long.
    """
    tri = p2d[faces].double()                                   # (F, 3, 2)
    ok = torch.isfinite(tri).all(dim=2).all(dim=1)
    lo = torch.ceil(tri.amin(dim=1) - 0.5).clamp(min=0)
    hi = torch.floor(tri.amax(dim=1) - 0.5)
    hi = torch.stack([hi[:, 0].clamp(max=width - 1), hi[:, 1].clamp(max=height - 1)], dim=1)
    ok &= (hi >= lo).all(dim=1)
    fid = torch.nonzero(ok).squeeze(1)
    if fid.numel() == 0:
        return
    lo, hi = lo[fid].long(), hi[fid].long()
    ext = hi - lo + 1
    big = ext.amax(dim=1)
    order = torch.argsort(big, stable=True)
    fid, lo, ext, big = fid[order], lo[order], ext[order], big[order]
    i = 0
    nk = fid.numel()
    while i < nk:
        # a chunk holds faces with box sizes in [s, 2s] and stays within the pair budget
        s = int(big[i])
        j = int(torch.searchsorted(big, torch.tensor(2 * s), right=True))
        j = min(j, i + max(1, _PAIR_BUDGET // (4 * s * s)))
        tw, th = int(ext[i:j, 0].max()), int(ext[i:j, 1].max())
        f = fid[i:j]
        oy, ox = torch.meshgrid(torch.arange(th), torch.arange(tw), indexing="ij")
        px = lo[i:j, 0:1] + ox.reshape(1, -1)                    # (C, S)
        py = lo[i:j, 1:2] + oy.reshape(1, -1)
        valid = (px < (lo[i:j, 0:1] + ext[i:j, 0:1])) & (py < (lo[i:j, 1:2] + ext[i:j, 1:2]))
        cx, cy = px.double() + 0.5, py.double() + 0.5
        t = tri[f]                                                # (C, 3, 2)
        w = []
        for k in range(3):                                        # edge opposite vertex k
            a, b = t[:, (k + 1) % 3], t[:, (k + 2) % 3]
            w.append((b[:, 0:1] - a[:, 0:1]) * (cy - a[:, 1:2]) - (b[:, 1:2] - a[:, 1:2]) * (cx - a[:, 0:1]))
        w = torch.stack(w, dim=2)                                 # (C, S, 3)
        area = w.sum(dim=2)
        inside = valid & (area != 0) & (((w >= 0).all(dim=2) & (area > 0)) | ((w <= 0).all(dim=2) & (area < 0)))
        ci, si = torch.nonzero(inside, as_tuple=True)
        if ci.numel():
            bary = w[ci, si] / area[ci, si].unsqueeze(1)
            yield f[ci], py[ci, si] * width + px[ci, si], bary
        i = j


def _one_per_pixel(cand: torch.Tensor, pix: torch.Tensor, face_ids: torch.Tensor) -> torch.Tensor:
    """Of candidate pairs ``cand`` keep one per pixel, the smallest face id: faces meeting at an
    edge tie in depth there, and an index write with repeated pixels would keep an arbitrary
    one (run-to-run differences in rendered videos)."""
    key = pix[cand] * (int(face_ids.max()) + 1) + face_ids[cand]
    cand = cand[torch.argsort(key, stable=True)]
    first = torch.ones(cand.numel(), dtype=torch.bool)
    first[1:] = pix[cand[1:]] != pix[cand[:-1]]
    return cand[first]


def rasterize_hard(vertices_cam: torch.Tensor, faces: torch.Tensor, camera: Camera) -> torch.Tensor:
    """Exact pixel-centre coverage ``(B, H, W)`` bool of the mesh ``vertices_cam (B, V, 3)``."""
    height, width = camera.image_size
    with torch.no_grad():
        p2d = camera.project(vertices_cam.detach()).cpu()
        faces = faces.detach().long().cpu()
        mask = torch.zeros(p2d.shape[0], height * width, dtype=torch.bool)
        for bi in range(p2d.shape[0]):
            for _, pix, _ in _face_pixel_pairs(p2d[bi], faces, height, width):
                mask[bi, pix] = True
    return mask.view(-1, height, width).to(vertices_cam.device)


def rasterize_depth(vertices_cam: torch.Tensor, faces: torch.Tensor, camera: Camera) -> DepthRaster:
    """Z-buffer of one mesh ``vertices_cam (V, 3)``: nearest face per pixel centre."""
    height, width = camera.image_size
    if vertices_cam.dim() != 2 or vertices_cam.shape[1] != 3:
        raise ValueError(f"vertices_cam must be (V, 3), got shape {tuple(vertices_cam.shape)}")
    with torch.no_grad():
        verts = vertices_cam.detach().double().cpu()
        faces = faces.detach().long().cpu()
        p2d, z = camera.project_with_depth(verts.unsqueeze(0))
        p2d, z = p2d[0], z[0]
        face_index = torch.full((height * width,), -1, dtype=torch.long)
        bary_out = torch.zeros(height * width, 3, dtype=torch.float64)
        depth = torch.full((height * width,), float("inf"), dtype=torch.float64)
        for f, pix, bary in _face_pixel_pairs(p2d, faces, height, width):
            inv_z = bary / z[faces[f]]                             # perspective-correct weights
            pz = 1.0 / inv_z.sum(dim=1)
            depth.scatter_reduce_(0, pix, pz, reduce="amin")
            win = _one_per_pixel(torch.nonzero(pz <= depth[pix]).squeeze(1), pix, f)  # this chunk's nearest
            face_index[pix[win]] = f[win]
            bary_out[pix[win]] = inv_z[win] * pz[win].unsqueeze(1)
        return DepthRaster(face_index.view(height, width), bary_out.view(height, width, 3).float(),
                           depth.view(height, width).float())
