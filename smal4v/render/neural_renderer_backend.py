"""Optional Neural Mesh Renderer (``neural_renderer``) silhouette backend and backend selection.

NMR is CUDA-only and does not build with torch 2.x without source fixes (see
``shared/ENVIRONMENT.md``); it cannot be installed or tested on the project machines, so the
adapter below is UNTESTED. Only :func:`make_silhouette_renderer`'s selection logic is tested.
The adapter maps our pinhole camera onto NMR's ``camera_mode="projection"`` with intrinsics
``K`` (pixels), identity extrinsics and ``orig_size`` = image size; NMR's images have y up in
some versions, hence the vertical flip flag.
"""

from __future__ import annotations

import torch

from .camera import Camera, ImageSize, as_hw
from .soft_rasterizer import SoftSilhouetteRenderer


def neural_renderer_available() -> bool:
    """True when ``neural_renderer`` imports and CUDA is available."""
    try:
        import neural_renderer  # noqa: F401
    except Exception:
        return False
    return torch.cuda.is_available()


class NeuralRendererSilhouette:
    """Same call signature as :class:`SoftSilhouetteRenderer` (sigma is ignored). UNTESTED."""

    def __init__(self, image_size: ImageSize, sigma: float = 0.1, flip_y: bool = True) -> None:
        import neural_renderer as nr
        h, w = as_hw(image_size)
        if h != w:
            raise ValueError(f"neural_renderer renders square images only, got {(h, w)}")
        self.image_size, self.sigma, self.flip_y = (h, w), sigma, flip_y
        self._nr = nr

    def __call__(self, vertices_cam: torch.Tensor, faces: torch.Tensor, camera: Camera,
                 sigma: float | None = None) -> torch.Tensor:
        b, dev = vertices_cam.shape[0], vertices_cam.device
        k = torch.zeros(b, 3, 3, device=dev)
        k[:, 0, 0] = camera.focal.to(dev).float().expand(b) if camera.focal.dim() else camera.focal.float()
        k[:, 1, 1] = k[:, 0, 0]
        k[:, :2, 2] = camera.principal.to(dev).float().reshape(-1, 2).expand(b, 2)
        k[:, 2, 2] = 1.0
        eye = torch.eye(3, device=dev).expand(b, 3, 3)
        renderer = self._nr.Renderer(image_size=self.image_size[0], camera_mode="projection", K=k, R=eye,
                                     t=torch.zeros(b, 1, 3, device=dev), orig_size=self.image_size[0],
                                     near=1e-3, far=1e4)
        sil = renderer(vertices_cam.float(), faces.int().unsqueeze(0).expand(b, -1, -1), mode="silhouettes")
        return sil.flip(1) if self.flip_y else sil


def make_silhouette_renderer(backend: str = "auto", image_size: ImageSize = 128, sigma: float = 0.1, **kwargs):
    """Return a silhouette renderer: "soft" (pure PyTorch), "neural_renderer" (CUDA NMR, error if
    unavailable) or "auto" (NMR when importable with CUDA, else soft). kwargs go to the soft one."""
    if backend not in ("soft", "neural_renderer", "auto"):
        raise ValueError(f"unknown silhouette backend {backend!r}; use 'soft', 'neural_renderer' or 'auto'")
    if backend == "neural_renderer" or (backend == "auto" and neural_renderer_available()):
        if not neural_renderer_available():
            raise RuntimeError("silhouette backend 'neural_renderer' requested but the neural_renderer package "
                               "does not import or CUDA is not available; use backend 'soft' or 'auto'")
        return NeuralRendererSilhouette(image_size, sigma)
    return SoftSilhouetteRenderer(image_size, sigma, **kwargs)
