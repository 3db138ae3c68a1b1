"""smal4v.render: pinhole camera, differentiable soft silhouettes, exact and shaded rasterisers."""

from .camera import Camera
from .hard_rasterizer import DepthRaster, rasterize_depth, rasterize_hard
from .neural_renderer_backend import make_silhouette_renderer
from .shaded import RenderResult, ShadedRenderer
from .soft_rasterizer import SoftSilhouetteRenderer

__all__ = ["Camera", "SoftSilhouetteRenderer", "rasterize_hard", "rasterize_depth", "DepthRaster",
           "ShadedRenderer", "RenderResult", "make_silhouette_renderer"]
