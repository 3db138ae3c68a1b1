"""Differentiable soft silhouette renderer in pure PyTorch (CPU and CUDA alike).

Formulation. For pixel centre p and projected triangle f let d(p, f) be the signed distance in
pixels from p to the triangle boundary (positive inside, negative outside; exact: distance to
the nearest edge *segment*, so sharp vertices do not grow spikes). With ``D = sigmoid(d/sigma)``
the occupancy is

    occ(p) = 1 - prod_f (1 - D_f) = 1 - exp(-sum_f softplus(d_f / sigma)),

which is numerically stable. Its derivative ``d occ / d d_f = (1 - occ) D_f / sigma`` gives an
analytic backward; the distance derivative wrt the two end points a, b of the nearest edge is
``-(1-t) g`` and ``-t g`` where ``g = d d / d p`` and t is the position of the nearest point
on the edge (envelope theorem), so nothing but a handful of per-pair numbers are kept.

Cost. ``D_f`` is below ``exp(-cutoff)`` farther than ``cutoff * sigma`` pixels outside a
face, so each face only touches the pixels of its bounding box grown by that margin. Faces are
grouped by the size class of that box (widths and heights rounded up to powers of two, capped
at the image size) and each group is evaluated as a dense ``(faces, 3 edges, stamp pixels)``
block: a "stamp" of ``sw x sh`` pixels anchored at the box corner. Work is proportional to the
pixels the faces cover, not pixels x faces. Per-pixel sums use ``index_add_`` on flat ids.

Shared edges. With one sigmoid per face, a pixel on an edge shared by two faces would get
only 1 - 0.5^2 = 0.75 (soft cracks inside the silhouette), and a pixel just outside the
outline would be counted by every edge-on sliver stacked there (outward bias). So edges shared
with another rendered face of the same orientation ("interior" edges) are not boundaries:
inside a face, d is the distance to its non-interior edges only (+inf if it has none), and a
pixel outside a face beyond one of its interior edges gets D = 0 (the neighbour covers it).
Elsewhere d is the exact distance to the triangle. The inside region of each face is unchanged,
so nothing protrudes; near convex outline vertices the halo is trimmed within ~sigma.

Back-face culling (default on): for a closed mesh whose faces are counter-clockwise seen from
outside, the silhouette is the union of the front-facing faces. In the camera frame (x right,
y down, z forward) a face is front-facing iff ``det[v0, v1, v2] < 0``, which equals the sign
of the 2D cross product ``(p1 - p0) x (p2 - p0)`` of its pixel projections (for z > 0): front
faces have a negative pixel-space signed area. Turn culling off for open or inconsistently
oriented meshes; it is less exact there (front and back sheets both add a halo at the outline:
on the procedural animal at 128 px IoU(occ > 0.5, exact) 0.977 without culling, 0.993 with).

Sigma (pixels) can be changed per call (``renderer(..., sigma=...)``) or via the attribute, e.g.
to anneal from blurry to sharp. Large sigma puts the 0.5 level outside the true outline only
at convex corners, but the occupancy mass (area) grows, which biases area-like losses.

``compile=True`` wraps the per-group kernels in ``torch.compile`` (slow first call; sigma is
passed as a 0-d tensor so changing it does not recompile).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from .camera import Camera, ImageSize, as_hw


_FAR = 1e4  # pixels: "infinitely" inside / outside (softplus and sigmoid saturate exactly)


def _pair_forward(w0: torch.Tensor, s0: torch.Tensor, nx: torch.Tensor, ny: torch.Tensor,
                  ux: torch.Tensor, uy: torch.Tensor, length: torch.Tensor, interior: torch.Tensor,
                  ox: torch.Tensor, oy: torch.Tensor, inv_sigma: torch.Tensor):
    """Per (face, stamp pixel) maths. Face inputs ``(G, 3, 1)``, offsets ``(1, 1, S)``.

    Returns softplus(d/sigma), d, nearest edge index, and for that edge the line distance w,
    the overshoot beyond the segment ex and the clamped position along the edge sc, all (G, S).
    """
    w = w0 + nx * ox + ny * oy                 # signed distance to each edge's line (inward +)
    s = s0 + ux * ox + uy * oy                 # position along each edge, pixels from its start
    sc = torch.minimum(torch.clamp(s, min=0.0), length)
    ex = s - sc
    d2 = w * w + ex * ex                       # squared distance to each edge segment
    inside = w.amin(dim=1, keepdim=True) >= 0
    # inside: only non-interior edges are boundaries; outside: exact distance to the triangle
    d2min, idx = torch.where(inside & interior, _FAR * _FAR, d2).min(dim=1)
    beyond_shared = torch.where(interior, w, _FAR).amin(dim=1) < 0
    dist = torch.sqrt(d2min)
    inside = inside.squeeze(1)
    d = torch.where(inside, dist, torch.where(beyond_shared, -_FAR, -dist))
    sel = idx.unsqueeze(1)
    w_sel = torch.gather(w, 1, sel).squeeze(1)
    ex_sel = torch.gather(ex, 1, sel).squeeze(1)
    sc_sel = torch.gather(sc, 1, sel).squeeze(1)
    sp = F.softplus(d * inv_sigma)
    return sp, d, idx, w_sel, ex_sel, sc_sel


def _pair_backward(q: torch.Tensor, d: torch.Tensor, idx: torch.Tensor, w_sel: torch.Tensor,
                   ex_sel: torch.Tensor, sc_sel: torch.Tensor, inv_sigma: torch.Tensor) -> torch.Tensor:
    """Sum over stamp pixels of dL/dd times (w, ex, w*sc, ex*sc)/d per edge: ``(G, 3, 4)``.

    ``q`` is dL/docc * (1 - occ) / sigma gathered at each pair's pixel. Pairs at +-_FAR have a
    zero factor ((1 - occ) = 0 inside, sigmoid = 0 outside) and give no gradient.
    """
    g = q * torch.sigmoid(d * inv_sigma)
    tiny = 1e-12
    g = torch.where(d.abs() >= _FAR, 0.0, g) / torch.where(d.abs() < tiny, torch.full_like(d, tiny), d)
    gw = g * w_sel
    ge = g * ex_sel
    x = torch.stack([gw, ge, gw * sc_sel, ge * sc_sel], dim=-1)            # (G, S, 4)
    edges = torch.arange(3, device=idx.device).view(1, 3, 1)
    onehot = (idx.unsqueeze(1) == edges).to(x.dtype)                      # (G, 3, S)
    return torch.bmm(onehot, x)


@dataclass
class _Kernels:
    forward: Callable
    backward: Callable


_EAGER = _Kernels(_pair_forward, _pair_backward)
_COMPILED: _Kernels | None = None


def _compiled_kernels() -> _Kernels:
    global _COMPILED
    if _COMPILED is None:
        import torch._inductor.config as inductor_config  # deterministic_kernels() leaves this flag to us

        inductor_config.deterministic = torch.are_deterministic_algorithms_enabled()
        _COMPILED = _Kernels(torch.compile(_pair_forward, dynamic=True),
                             torch.compile(_pair_backward, dynamic=True))
    return _COMPILED


@dataclass
class _Group:
    face: torch.Tensor       # (G,) index into the kept-face arrays
    stamp: tuple[int, int]   # (sw, sh)
    flat: torch.Tensor       # (G, S) flat pixel ids in [0, B*H*W)


def _stamp_sizes(extent: int) -> torch.Tensor:
    sizes = [1]
    while sizes[-1] * 2 < extent:
        sizes.append(sizes[-1] * 2)
    if sizes[-1] < extent:
        sizes.append(extent)
    return torch.tensor(sizes)


class _SoftSilhouetteFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, p2d: torch.Tensor, faces: torch.Tensor, neighbours: torch.Tensor,
                inv_sigma: torch.Tensor, height: int, width: int, cull: bool, margin: float,
                kernels: _Kernels) -> torch.Tensor:
        b, n = p2d.shape[:2]
        nf = faces.shape[0]
        dev, dt = p2d.device, p2d.dtype
        tri = p2d[:, faces].reshape(b * nf, 3, 2)
        e = tri.roll(-1, dims=1) - tri                                       # edge k: v_k -> v_k+1
        area2 = e[:, 0, 0] * (-e[:, 2, 1]) - e[:, 0, 1] * (-e[:, 2, 0])      # (v1-v0) x (v2-v0)
        lo = tri.amin(dim=1) - margin - 0.5
        hi = tri.amax(dim=1) + margin - 0.5
        first = torch.ceil(lo).clamp(min=0)
        last = torch.floor(hi)
        last = torch.stack([last[:, 0].clamp(max=width - 1), last[:, 1].clamp(max=height - 1)], 1)
        keep = (area2 < -1e-12) if cull else (area2.abs() > 1e-12)
        keep &= torch.isfinite(tri).all(dim=2).all(dim=1) & (last >= first).all(dim=1)
        kept = torch.nonzero(keep).squeeze(1)
        # interior edges: shared with another kept face of the same orientation
        nb = neighbours[kept % nf]                                           # (K, 3)
        nb_global = (kept // nf).unsqueeze(1) * nf + nb.clamp(min=0)
        interior = (nb >= 0) & keep[nb_global] & ((area2[nb_global] > 0) == (area2[kept] > 0).unsqueeze(1))
        occ_sum = torch.zeros(b * height * width, device=dev, dtype=dt)
        ctx.saved = None
        if kept.numel() == 0:
            ctx.shape = (b, n, nf, height, width)
            ctx.empty = True
            return torch.zeros(b, height, width, device=dev, dtype=dt)
        tri, e, area2, first, last = tri[kept], e[kept], area2[kept], first[kept], last[kept]
        extent = (last - first + 1).long()                                   # (K, 2) w, h
        sizes_w = _stamp_sizes(width).to(dev)
        sizes_h = _stamp_sizes(height).to(dev)
        cls_w = torch.searchsorted(sizes_w, extent[:, 0].contiguous())
        cls_h = torch.searchsorted(sizes_h, extent[:, 1].contiguous())
        sw = sizes_w[cls_w]
        sh = sizes_h[cls_h]
        # shift anchors left/up so every stamp lies inside the image (stamps never exceed it)
        x0 = torch.minimum(first[:, 0].long(), width - sw)
        y0 = torch.minimum(first[:, 1].long(), height - sh)
        length = e.norm(dim=2).clamp(min=1e-12)                              # (K, 3)
        u = e / length.unsqueeze(2)
        orient = torch.where(area2 > 0, 1.0, -1.0).to(dt).unsqueeze(1)
        nx, ny = -u[..., 1] * orient, u[..., 0] * orient                     # inward normals
        rx = x0.to(dt).unsqueeze(1) + 0.5 - tri[..., 0]
        ry = y0.to(dt).unsqueeze(1) + 0.5 - tri[..., 1]
        w0 = nx * rx + ny * ry
        s0 = u[..., 0] * rx + u[..., 1] * ry
        bidx = kept // nf
        base = bidx * (height * width) + y0 * width + x0
        key = cls_w * len(sizes_h) + cls_h
        order = torch.argsort(key, stable=True)
        counts = torch.bincount(key, minlength=len(sizes_w) * len(sizes_h)).tolist()
        groups: list[_Group] = []
        saved_pairs = []
        start = 0
        for k, cnt in enumerate(counts):
            if cnt == 0:
                continue
            fidx = order[start:start + cnt]
            start += cnt
            gw, gh = int(sizes_w[k // len(sizes_h)]), int(sizes_h[k % len(sizes_h)])
            oy, ox = torch.meshgrid(torch.arange(gh, device=dev), torch.arange(gw, device=dev), indexing="ij")
            ox, oy = ox.reshape(1, 1, -1), oy.reshape(1, 1, -1)
            flat = base[fidx].unsqueeze(1) + (oy * width + ox).view(1, -1)
            sel = lambda t: t[fidx].unsqueeze(2)  # noqa: E731
            sp, d, idx, w_sel, ex_sel, sc_sel = kernels.forward(
                sel(w0), sel(s0), sel(nx), sel(ny), sel(u[..., 0]), sel(u[..., 1]), sel(length),
                interior[fidx].unsqueeze(2), ox.to(dt), oy.to(dt), inv_sigma)
            occ_sum.index_add_(0, flat.reshape(-1), sp.reshape(-1))
            groups.append(_Group(fidx, (gw, gh), flat))
            saved_pairs.append((d, idx, w_sel, ex_sel, sc_sel))
        occ = -torch.expm1(-occ_sum)
        ctx.empty = False
        ctx.shape = (b, n, nf, height, width)
        ctx.kernels = kernels
        ctx.groups = groups
        ctx.pairs = saved_pairs
        ctx.save_for_backward(faces, kept, u, nx, ny, length, inv_sigma, occ)
        return occ.view(b, height, width)

    @staticmethod
    def backward(ctx, grad_occ: torch.Tensor):
        b, n, nf, height, width = ctx.shape
        if ctx.empty:
            return (torch.zeros(b, n, 2, dtype=grad_occ.dtype, device=grad_occ.device),) + (None,) * 8
        faces, kept, u, nx, ny, length, inv_sigma, occ = ctx.saved_tensors
        q = grad_occ.reshape(-1) * (1.0 - occ) * inv_sigma
        grad_p = torch.zeros(b * n, 2, device=occ.device, dtype=occ.dtype)
        vert = (kept // nf).unsqueeze(1) * n + faces[kept % nf]              # (K, 3) global vertex ids
        nvec = torch.stack([nx, ny], dim=2)
        for grp, (d, idx, w_sel, ex_sel, sc_sel) in zip(ctx.groups, ctx.pairs):
            r = ctx.kernels.backward(q[grp.flat], d, idx, w_sel, ex_sel, sc_sel, inv_sigma)
            a_, b_, a2, b2 = r.unbind(dim=2)                                 # (G, 3) each
            nv, uv, ln = nvec[grp.face], u[grp.face], length[grp.face]
            a2, b2 = a2 / ln, b2 / ln
            g_start = -(nv * (a_ - a2).unsqueeze(2) + uv * (b_ - b2).unsqueeze(2))
            g_end = -(nv * a2.unsqueeze(2) + uv * b2.unsqueeze(2))
            g_vert = g_start + g_end.roll(1, dims=1)                          # vertex k: start of edge k, end of k-1
            grad_p.index_add_(0, vert[grp.face].reshape(-1), g_vert.reshape(-1, 2))
        return (grad_p.view(b, n, 2),) + (None,) * 8


def face_neighbours(faces: torch.Tensor) -> torch.Tensor:
    """``(F, 3)`` index of the face across edge k (v_k -> v_k+1) of each face, -1 where the edge
    is a border or is shared by more than two faces."""
    nf = faces.shape[0]
    edges = torch.stack([faces, faces.roll(-1, dims=1)], dim=2).reshape(-1, 2)
    nv = int(faces.max()) + 1 if nf else 1
    key = edges.amin(dim=1) * nv + edges.amax(dim=1)
    _, inverse, counts = torch.unique(key, return_inverse=True, return_counts=True)
    order = torch.argsort(inverse, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    pair = starts[counts == 2]
    i0, i1 = order[pair], order[pair + 1]
    nb = torch.full((3 * nf,), -1, dtype=torch.long, device=faces.device)
    nb[i0] = i1 // 3
    nb[i1] = i0 // 3
    return nb.view(nf, 3)


def soft_silhouette_2d(p2d: torch.Tensor, faces: torch.Tensor, image_size: ImageSize, sigma: float,
                       cull_backfaces: bool = True, cutoff: float = 10.0,
                       compile: bool = False, neighbours: torch.Tensor | None = None) -> torch.Tensor:
    """Soft occupancy ``(B, H, W)`` of triangles given by pixel coordinates ``p2d (B, N, 2)``.

    ``neighbours``: precomputed :func:`face_neighbours` of ``faces`` (computed if None).
    """
    height, width = as_hw(image_size)
    if sigma <= 0:
        raise ValueError(f"sigma must be positive (pixels), got {sigma}")
    if neighbours is None:
        neighbours = face_neighbours(faces)
    inv_sigma = torch.tensor(1.0 / sigma, dtype=p2d.dtype, device=p2d.device)
    kernels = _compiled_kernels() if compile else _EAGER
    return _SoftSilhouetteFn.apply(p2d, faces, neighbours, inv_sigma, height, width, bool(cull_backfaces),
                                   float(cutoff * sigma), kernels)


class SoftSilhouetteRenderer:
    """``renderer(vertices_cam (B,V,3), faces (F,3), camera, sigma=None) -> (B,H,W)`` in [0, 1].

    ``sigma``: edge softness in pixels (attribute, or per call to anneal). ``cull_backfaces``:
    render only front-facing faces (correct for closed, consistently oriented meshes).
    ``cutoff``: faces are evaluated up to ``cutoff * sigma`` px outside their box.
    ``compile``: ``torch.compile`` the per-pair kernels (slow
    first call, default off).
    """

    def __init__(self, image_size: ImageSize, sigma: float = 0.1, cull_backfaces: bool = True,
                 cutoff: float = 10.0, compile: bool = False) -> None:
        self.image_size = as_hw(image_size)
        self.sigma = float(sigma)
        self.cull_backfaces = cull_backfaces
        self.cutoff = float(cutoff)
        self.compile = compile
        self._nb: torch.Tensor | None = None
        self._nb_key: tuple | None = None

    def __call__(self, vertices_cam: torch.Tensor, faces: torch.Tensor, camera: Camera,
                 sigma: float | None = None) -> torch.Tensor:
        if tuple(camera.image_size) != self.image_size:
            raise ValueError(f"camera image_size {camera.image_size} != renderer image_size {self.image_size}")
        if faces.dim() != 2 or faces.shape[1] != 3:
            raise ValueError(f"faces must be (F, 3), got shape {tuple(faces.shape)}")
        faces = faces.to(device=vertices_cam.device, dtype=torch.long)
        p2d = camera.project(vertices_cam)
        key = (faces.data_ptr(), tuple(faces.shape), faces.device, int(faces.sum()))
        if self._nb_key != key:
            self._nb, self._nb_key = face_neighbours(faces), key
        return soft_silhouette_2d(p2d, faces, self.image_size, self.sigma if sigma is None else float(sigma),
                                  self.cull_backfaces, self.cutoff, self.compile, self._nb)
