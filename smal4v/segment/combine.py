"""``osvos+flow``: temporal consistency by fusing OSVOS with flow propagation.

Flow propagation is precise next to an annotated frame and drifts with distance from it;
OSVOS is equally good (or bad) on every frame. Per frame ``t`` at distance ``d(t)`` (frames)
from the nearest given mask, the fused probability is

    p(t) = w(t) * p_flow(t) + (1 - w(t)) * p_osvos(t),   w(t) = w_max * exp(-(d(t) - 1) / tau)

so frames next to an annotation trust flow most and far ones trust OSVOS more. The fused
probability is thresholded and cleaned like the others; given frames keep their mask.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from smal4v.segment.flow import FlowParams, check_inputs, densify_flow
from smal4v.segment.osvos import OsvosParams, finish, osvos_probabilities
from smal4v.settings import build_settings
from smal4v.train.loop import seed_everything


@dataclass
class FusionParams:
    """Settings of the osvos+flow fusion (config ``silhouettes.fusion``)."""

    tau: float = 10.0  # frames; how fast trust moves from flow to OSVOS with distance
    w_max: float = 0.75  # flow weight on a frame next to an annotated one

    @classmethod
    def from_any(cls, params: "FusionParams | Mapping[str, Any] | None") -> "FusionParams":
        return build_settings(cls, params, "fusion")


def distance_to_given(given: np.ndarray) -> np.ndarray:
    """Frames (N,) between each frame and its nearest frame with a given mask (0 on those)."""
    given = np.asarray(given, dtype=bool)
    idx = np.flatnonzero(given)
    t = np.arange(len(given))
    return np.abs(t[:, None] - idx[None, :]).min(axis=1)


def flow_weight(given: np.ndarray, p: FusionParams) -> np.ndarray:
    """Per-frame weight (N,) of the flow probability in the fusion."""
    d = distance_to_given(given).astype(np.float64)
    return np.where(d == 0, 1.0, p.w_max * np.exp(-(np.maximum(d, 1) - 1) / max(p.tau, 1e-6)))


def fuse(p_osvos: np.ndarray, p_flow: np.ndarray, given: np.ndarray, p: FusionParams) -> np.ndarray:
    """Distance-weighted mean of the two probability stacks (N, H, W) in [0, 1]."""
    w = flow_weight(given, p).astype(np.float32)[:, None, None]
    return w * p_flow + (1 - w) * p_osvos


def densify_osvos_flow(frames: np.ndarray, masks: np.ndarray, given: np.ndarray,
                       params: Mapping[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``osvos+flow`` method: ``(masks (N,H,W) bool, probabilities uint8)``.

    ``params = {"osvos": {...OsvosParams}, "flow": {...FlowParams}, "fusion": {...FusionParams}}``.
    """
    params = dict(params or {})
    unknown = sorted(set(params) - {"osvos", "flow", "fusion"})
    if unknown:
        raise ValueError(f"unknown keys {unknown} in the osvos+flow settings; expected osvos, flow, fusion")
    po = OsvosParams.from_any(params.get("osvos"))
    pf = FlowParams.from_any(params.get("flow"))
    fusion = FusionParams.from_any(params.get("fusion"))
    masks = np.asarray(masks, dtype=bool)
    given = np.asarray(given, dtype=bool)
    check_inputs(frames, masks, given)
    seed_everything(po.seed, deterministic=False)
    p_osvos = osvos_probabilities(frames, masks, given, po)
    _, flow_u8 = densify_flow(frames, masks, given, pf)
    prob = fuse(p_osvos, flow_u8.astype(np.float32) / 255.0, given, fusion)
    return finish(prob, masks, given, po.mask_params())
