"""Classical silhouette densification: propagate sparse masks along dense optical flow.

For every frame without a given mask, the mask probability is carried frame by frame from the
nearest given frame before it (forward) and after it (backward) by backward warping with dense
optical flow (DIS at full working resolution by default, Farneback optional); pixels failing a
forward-backward flow consistency check (disocclusions) get probability 0, so the mask does
not drag a trail behind a moving animal. The two propagated probabilities are blended
with weights that favour the temporally closer source, thresholded and cleaned (morphological
open/close, hole filling, largest component). Frames with a given mask keep it unchanged.

A no-flow baseline, :func:`densify_nearest` (copy the nearest given mask), is provided for
comparison; flow propagation should beat it whenever the animal moves.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np
from scipy import ndimage
from tqdm import tqdm

from smal4v.settings import build_settings


@dataclass
class FlowParams:
    """Settings of :func:`densify_flow` (all exposed through the workflow config)."""

    method: str = "dis"  # "dis" or "farneback"
    dis_preset: str = "medium"  # "ultrafast", "fast", "medium"
    dis_finest_scale: int = 0  # 0 = flow at full working resolution (presets use 1-2: too coarse)
    dis_patch_stride: int = 3
    work_max_side: int = 640  # flow is computed on frames downscaled to this longer side
    threshold: float = 0.5  # probability threshold for the binary mask
    morph_radius: int = 1  # open/close radius in pixels at full resolution (0 = off)
    fill_holes: bool = True
    keep_largest: bool = True  # keep only the largest connected component
    progress: bool = True

    @classmethod
    def from_any(cls, params: "FlowParams | dict[str, Any] | None") -> "FlowParams":
        """Build from a config dict (unknown keys are an error) or pass through."""
        return build_settings(cls, params, "flow densification")


def check_inputs(frames: np.ndarray, masks: np.ndarray, given: np.ndarray) -> None:
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (N, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    if masks.shape != frames.shape[:3]:
        raise ValueError(f"masks shape {masks.shape} does not match frames {frames.shape[:3]}")
    if given.shape != (len(frames),):
        raise ValueError(f"given must be ({len(frames)},), got {given.shape}")
    if not given.any():
        raise ValueError("silhouette densification needs at least one given mask; none is given")


class _FlowField:
    """Dense flow between neighbouring frames on grey images downscaled to the working size,
    with a forward-backward consistency check that finds pixels without a correspondence."""

    def __init__(self, frames: np.ndarray, params: FlowParams):
        h, w = frames.shape[1:3]
        scale = min(1.0, params.work_max_side / max(h, w))
        self.size = (max(8, round(w * scale)), max(8, round(h * scale)))  # cv2 (width, height)
        self.params = params
        self.grey = [
            cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), self.size, interpolation=cv2.INTER_AREA)
            for f in frames
        ]
        if params.method == "dis":
            presets = {
                "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
                "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
            }
            if params.dis_preset not in presets:
                raise ValueError(f"dis_preset must be one of {sorted(presets)}, got {params.dis_preset!r}")
            self._dis = cv2.DISOpticalFlow_create(presets[params.dis_preset])
            self._dis.setFinestScale(params.dis_finest_scale)
            self._dis.setPatchStride(params.dis_patch_stride)
        elif params.method != "farneback":
            raise ValueError(f"flow method must be 'dis' or 'farneback', got {params.method!r}")
        gy, gx = np.mgrid[0 : self.size[1], 0 : self.size[0]].astype(np.float32)
        self._grid = (gx, gy)
        self._cache: dict[tuple[int, int], np.ndarray] = {}

    def clear(self) -> None:
        """Forget cached flows (call between independent stretches of frames)."""
        self._cache.clear()

    def _flow(self, t: int, s: int) -> np.ndarray:
        """Flow from frame t to frame s: pixel x of t sits at x + flow(x) in s (cached)."""
        if (t, s) not in self._cache:
            a, b = self.grey[t], self.grey[s]
            if self.params.method == "dis":
                flow = self._dis.calc(a, b, None)
            else:
                flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, 15, 3, 5, 1.2, 0)
            self._cache[(t, s)] = flow
        return self._cache[(t, s)]

    def _warp(self, image: np.ndarray, flow: np.ndarray) -> np.ndarray:
        # A pure displacement: the +0.5 pixel-centre convention cancels in cv2's index grid.
        return cv2.remap(
            image, self._grid[0] + flow[..., 0], self._grid[1] + flow[..., 1],
            interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0,
        )

    def pull(self, prob: np.ndarray, t: int, s: int) -> np.ndarray:
        """Probability map of frame s carried to frame t (backward warp along flow t->s).

        Pixels of t whose flow fails the forward-backward check (Sundaram et al. 2010:
        |w + w'|^2 > 0.01 (|w|^2 + |w'|^2) + 0.5) are disoccluded: they were hidden in s, as
        is the background uncovered behind a moving animal. They get probability 0 instead
        of the foreground they would otherwise copy, which would drag a trail behind it.
        """
        f_ts = self._flow(t, s)
        f_st = self._warp(self._flow(s, t), f_ts)
        diff = ((f_ts + f_st) ** 2).sum(axis=-1)
        bound = 0.01 * ((f_ts**2).sum(axis=-1) + (f_st**2).sum(axis=-1)) + 0.5
        out = self._warp(prob, f_ts)
        out[diff > bound] = 0.0
        return out


def _chain(field: _FlowField, start: np.ndarray, frames: list[int], step: int) -> list[np.ndarray]:
    """Carry ``start`` (the given mask next to ``frames[0]``) frame by frame through ``frames``
    (consecutive, in the direction of ``step``); one probability map per frame."""
    out = []
    current = start
    for t in frames:
        current = field.pull(current, t, t - step)
        out.append(current)
    return out


def mask_params_of(settings: Any) -> FlowParams:
    """The threshold/cleaning settings of any method's settings object (fields ``threshold``,
    ``morph_radius``, ``fill_holes``, ``keep_largest``) in the form :func:`refine_mask` takes."""
    return FlowParams(threshold=settings.threshold, morph_radius=settings.morph_radius,
                      fill_holes=settings.fill_holes, keep_largest=settings.keep_largest, progress=False)


def refine_mask(prob: np.ndarray, params: FlowParams) -> np.ndarray:
    """Threshold a probability map and clean it (open/close, fill holes, largest component)."""
    mask = prob >= params.threshold
    r = params.morph_radius
    if r > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        m = mask.astype(np.uint8)
        m = cv2.morphologyEx(m, cv2.MORPH_OPEN, kernel)
        m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, kernel)
        mask = m.astype(bool)
    if params.fill_holes:
        mask = ndimage.binary_fill_holes(mask)
    if params.keep_largest and mask.any():
        labels, count = ndimage.label(mask)
        if count > 1:
            sizes = np.bincount(labels.ravel())
            sizes[0] = 0
            mask = labels == int(np.argmax(sizes))
    return mask


def densify_flow(
    frames: np.ndarray,
    masks: np.ndarray,
    given: np.ndarray,
    params: FlowParams | dict[str, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Masks for every frame from the given ones: ``(masks (N,H,W) bool, probabilities uint8)``.

    ``frames`` (N, H, W, 3) uint8 RGB; ``masks`` (N, H, W) bool (only rows with ``given`` used);
    ``given`` (N,) bool, at least one True. Given frames are returned unchanged.
    """
    p = FlowParams.from_any(params)
    masks = np.asarray(masks, dtype=bool)
    given = np.asarray(given, dtype=bool)
    check_inputs(frames, masks, given)
    n = len(frames)
    field = _FlowField(frames, p)
    small = np.stack([cv2.resize(m.astype(np.float32), field.size, interpolation=cv2.INTER_AREA) for m in masks])
    out_masks = masks.copy()
    out_prob = masks.astype(np.uint8) * 255
    idx = np.flatnonzero(given)
    # stretches of missing frames with their given neighbours (None beyond the ends)
    bounds = [(None, idx[0])] + list(zip(idx[:-1], idx[1:])) + [(idx[-1], None)]
    todo = int((~given).sum())
    with tqdm(total=todo, desc="flow densification", unit="frame", disable=not p.progress) as bar:
        for prev, nxt in bounds:
            lo = 0 if prev is None else prev + 1
            hi = n if nxt is None else nxt
            if lo >= hi:
                continue
            span = list(range(lo, hi))
            fwd = _chain(field, small[prev], span, 1) if prev is not None else None
            bwd = _chain(field, small[nxt], span[::-1], -1)[::-1] if nxt is not None else None
            field.clear()  # each pair's flows are used by both directions of one stretch only
            for k, t in enumerate(span):
                if fwd is None:
                    prob = bwd[k]
                elif bwd is None:
                    prob = fwd[k]
                else:
                    w_fwd = (nxt - t) / (nxt - prev)  # the closer given frame weighs more
                    prob = w_fwd * fwd[k] + (1 - w_fwd) * bwd[k]
                if prob.shape != masks.shape[1:]:
                    prob = cv2.resize(prob, (masks.shape[2], masks.shape[1]), interpolation=cv2.INTER_LINEAR)
                out_prob[t] = np.clip(np.rint(prob * 255), 0, 255).astype(np.uint8)
                out_masks[t] = refine_mask(prob, p)
                bar.update(1)
    return out_masks, out_prob


def densify_nearest(masks: np.ndarray, given: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Baseline: every frame copies the temporally nearest given mask (ties: the earlier one)."""
    masks = np.asarray(masks, dtype=bool)
    given = np.asarray(given, dtype=bool)
    if not given.any():
        raise ValueError("silhouette densification needs at least one given mask; none is given")
    idx = np.flatnonzero(given)
    t = np.arange(len(masks))
    nearest = idx[np.argmin(np.abs(t[:, None] - idx[None, :]), axis=1)]
    out = masks[nearest]
    return out, out.astype(np.uint8) * 255


def params_dict(params: FlowParams) -> dict[str, Any]:
    """Plain-dict view (for logs/attrs)."""
    return asdict(params)
