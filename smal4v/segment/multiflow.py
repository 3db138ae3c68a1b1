"""Optical flow between neighbouring frames at several scales, with a per-pixel consistency.

DIS flow (Kroeger et al. 2016) is computed on grey frames at the working size and at smaller
``scales`` of it; a coarse flow follows large, fast motion that the fine one can lose, the fine
one keeps thin legs. Per pixel the flow whose forward-backward round trip is closest to the
identity is kept, and its consistency

    c = exp(-|w + w'|^2 / (0.01 (|w|^2 + |w'|^2) + fb_tolerance^2))

(``w`` the flow t -> s, ``w'`` the flow s -> t read at x + w; Sundaram et al. 2010's
occlusion test at c < e^-1 with the default tolerance) says how much a mask carried along it
can be trusted. Flows are cached, so the forward and backward passes of a video and any
number of propagation variants share one computation per pair of neighbouring frames.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field

import cv2
import numpy as np

DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


@dataclass
class MultiFlowParams:
    """Settings of :class:`FlowBank` (config ``silhouettes.propagate.flow``)."""

    work_max_side: int = 480  # longer side (px) of the working size
    scales: list[float] = field(default_factory=lambda: [1.0, 0.5])  # fractions of the working size
    dis_preset: str = "medium"
    dis_patch_stride: int = 3
    fb_tolerance: float = 0.71  # px; sqrt(0.5) is Sundaram et al.'s constant


def working_size(h: int, w: int, max_side: int) -> tuple[int, int]:
    """cv2 (width, height) with longer side ``max_side`` (never upscaled)."""
    s = min(1.0, max_side / max(h, w))
    return max(8, round(w * s)), max(8, round(h * s))


class FlowBank:
    """Cached multi-scale flows of one video's neighbouring frames and mask warping."""

    def __init__(self, frames: np.ndarray, params: MultiFlowParams):
        if params.dis_preset not in DIS_PRESETS:
            raise ValueError(f"propagate.flow.dis_preset must be one of {sorted(DIS_PRESETS)}, got {params.dis_preset!r}")
        if not params.scales or any(not 0 < s <= 1 for s in params.scales):
            raise ValueError(f"propagate.flow.scales must be fractions in (0, 1], got {params.scales!r}")
        self.params = params
        h, w = frames.shape[1:3]
        self.size = working_size(h, w, params.work_max_side)
        grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
        self.grey = {s: [cv2.resize(g, working_size(h, w, round(params.work_max_side * s)), interpolation=cv2.INTER_AREA)
                         for g in grey] for s in params.scales}
        self._dis = cv2.DISOpticalFlow_create(DIS_PRESETS[params.dis_preset])
        self._dis.setFinestScale(0)
        self._dis.setPatchStride(params.dis_patch_stride)
        gy, gx = np.mgrid[0 : self.size[1], 0 : self.size[0]].astype(np.float32)
        self._grid = (gx, gy)
        self._raw: dict[tuple[float, int, int], np.ndarray] = {}
        self._best: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def with_scales(self, scales: list[float]) -> "FlowBank":
        """A bank restricted to a subset of this one's scales, sharing its computed flows."""
        if not set(scales) <= set(self.params.scales):
            raise ValueError(f"scales {scales} are not a subset of {self.params.scales}")
        other = copy.copy(self)
        other.params = dataclasses.replace(self.params, scales=list(scales))
        other._best = {}
        return other

    def clear(self) -> None:
        """Forget the computed flows (memory)."""
        self._raw.clear()
        self._best.clear()

    def resize_masks(self, masks: np.ndarray) -> np.ndarray:
        """Masks (N, H, W) as float coverage (N, h, w) at the working size."""
        return np.stack([cv2.resize(m.astype(np.float32), self.size, interpolation=cv2.INTER_AREA) for m in masks])

    def warp(self, image: np.ndarray, flow: np.ndarray) -> np.ndarray:
        """Backward warp: out(x) = image(x + flow(x)), 0 outside the image."""
        return cv2.remap(image, self._grid[0] + flow[..., 0], self._grid[1] + flow[..., 1],
                         interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)

    def _scaled(self, scale: float, t: int, s: int) -> np.ndarray:
        """DIS flow t -> s at ``scale``, in working-size pixels (cached)."""
        key = (scale, t, s)
        if key not in self._raw:
            g = self.grey[scale]
            f = self._dis.calc(g[t], g[s], None)
            if f.shape[:2] != (self.size[1], self.size[0]):
                f = cv2.resize(f, self.size, interpolation=cv2.INTER_LINEAR)
                f[..., 0] *= self.size[0] / g[t].shape[1]
                f[..., 1] *= self.size[1] / g[t].shape[0]
            self._raw[key] = f
        return self._raw[key]

    def flow(self, t: int, s: int) -> tuple[np.ndarray, np.ndarray]:
        """(flow t -> s (h, w, 2), consistency (h, w) in [0, 1]): per pixel the scale whose
        forward-backward round trip is most consistent (cached)."""
        if (t, s) not in self._best:
            best_f, best_c = None, None
            for scale in self.params.scales:
                f_ts, f_st = self._scaled(scale, t, s), self._scaled(scale, s, t)
                back = self.warp(f_st, f_ts)
                err = ((f_ts + back) ** 2).sum(axis=-1)
                bound = 0.01 * ((f_ts**2).sum(axis=-1) + (back**2).sum(axis=-1)) + self.params.fb_tolerance**2
                c = np.exp(-err / bound).astype(np.float32)
                if best_c is None:
                    best_f, best_c = f_ts, c
                else:
                    better = c > best_c
                    best_f = np.where(better[..., None], f_ts, best_f)
                    best_c = np.maximum(c, best_c)
            self._best[(t, s)] = (best_f, best_c)
        return self._best[(t, s)]
