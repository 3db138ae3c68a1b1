"""Fast non-differentiable shaded renderer for pictures and synthetic videos.

Z-buffer from :func:`rasterize_depth`, perspective-correct interpolation of vertex colours and
area-weighted vertex normals, Lambert shading ``colour * (ambient + (1 - ambient) * max(0, n.l))``
with ``l`` the direction towards the light in the camera frame (x right, y down, z forward).
Normals are flipped to face the camera so inconsistent meshes still shade sensibly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .camera import Camera, ImageSize, as_hw
from .hard_rasterizer import rasterize_depth

SMAL4V_BLUE = (0 / 255.0, 172 / 255.0, 223 / 255.0)
# towards the light: upper (-y), left (-x), in front of the mesh (towards the camera, -z)
DEFAULT_LIGHT_DIR = (-1.0, -1.0, -1.0)


@dataclass
class RenderResult:
    image: np.ndarray   # (H, W, 3) uint8
    mask: np.ndarray    # (H, W) bool
    depth: np.ndarray   # (H, W) float32, inf where empty


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals ``(V, 3)``."""
    tri = vertices[faces]
    fn = torch.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=1)
    vn = torch.zeros_like(vertices).index_add_(0, faces.reshape(-1), fn.repeat_interleave(3, dim=0))
    return vn / vn.norm(dim=1, keepdim=True).clamp(min=1e-12)


class ShadedRenderer:
    """``ShadedRenderer(image_size).render(vertices_cam (V,3), faces, camera, ...) -> RenderResult``."""

    def __init__(self, image_size: ImageSize) -> None:
        self.image_size = as_hw(image_size)

    def render(self, vertices_cam: torch.Tensor | np.ndarray, faces: torch.Tensor | np.ndarray, camera: Camera,
               vertex_colors: torch.Tensor | np.ndarray | None = None, background: np.ndarray | None = None,
               light_dir: tuple[float, float, float] | np.ndarray = DEFAULT_LIGHT_DIR,
               ambient: float = 0.4) -> RenderResult:
        h, w = self.image_size
        if tuple(camera.image_size) != (h, w):
            raise ValueError(f"camera image_size {camera.image_size} != renderer image_size {(h, w)}")
        verts = torch.as_tensor(np.asarray(vertices_cam) if not isinstance(vertices_cam, torch.Tensor)
                                else vertices_cam).detach().double().cpu()
        faces_t = torch.as_tensor(np.asarray(faces) if not isinstance(faces, torch.Tensor) else faces).long().cpu()
        if background is not None and (background.shape != (h, w, 3) or background.dtype != np.uint8):
            raise ValueError(f"background must be ({h}, {w}, 3) uint8, got {background.shape} {background.dtype}")
        if vertex_colors is None:
            colors = torch.tensor(SMAL4V_BLUE, dtype=torch.float64).expand(verts.shape[0], 3)
        else:
            colors = torch.as_tensor(np.asarray(vertex_colors) if not isinstance(vertex_colors, torch.Tensor)
                                     else vertex_colors).detach().double().cpu()
            if colors.shape != verts.shape:
                raise ValueError(f"vertex_colors must be (V, 3) = {tuple(verts.shape)}, got {tuple(colors.shape)}")
        raster = rasterize_depth(verts, faces_t, Camera(camera.focal.detach().cpu().reshape(-1)[:1].squeeze(),
                                                         (h, w), camera.principal.detach().cpu().reshape(-1, 2)[0]))
        mask = raster.face_index >= 0
        image = np.zeros((h, w, 3), np.uint8) if background is None else background.copy()
        if mask.any():
            fi = raster.face_index[mask]
            bary = raster.bary[mask].double().unsqueeze(2)                  # (P, 3, 1)
            corner = faces_t[fi]                                             # (P, 3)
            normal = (vertex_normals(verts, faces_t)[corner] * bary).sum(1)
            pos = (verts[corner] * bary).sum(1)
            normal = torch.where(((normal * pos).sum(1, keepdim=True) > 0), -normal, normal)
            normal = normal / normal.norm(dim=1, keepdim=True).clamp(min=1e-12)
            light = torch.as_tensor(np.asarray(light_dir, dtype=np.float64))
            light = light / light.norm().clamp(min=1e-12)
            lambert = (normal @ light).clamp(min=0).unsqueeze(1)
            col = (colors[corner] * bary).sum(1) * (ambient + (1.0 - ambient) * lambert)
            image[mask.numpy()] = (col.clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()
        return RenderResult(image, mask.numpy(), raster.depth.numpy().astype(np.float32))
