"""``propagate``: bidirectional mask propagation with per-pixel confidence, a segmenter prior
and boundary refinement (the default densification method).

For each stretch of frames between two given masks, the earlier mask is carried forward and
the later one backward, frame by frame along dense optical flow (:mod:`smal4v.segment.multiflow`:
DIS at several scales, per pixel the flow that best passes the forward-backward check). Each
carried probability has a per-pixel confidence that starts at 1 on the given frame, is carried
along with it, and is multiplied at every step by that step's flow consistency and by
``step_decay``; occluded, disoccluded or badly matched pixels therefore lose their vote
instead of voting "background" as plain flow propagation does. The two directions and a
segmenter (OSVOS by default, :mod:`smal4v.segment.segmenter`) are fused in log-odds:

    L(t) = c_fwd * logit(p_fwd) + c_bwd * logit(p_bwd) + prior_weight * logit(p_segmenter)

so the segmenter is a prior that decides where propagation is unsure, not a vote averaged in
everywhere. The fused probability is snapped to image edges with a guided filter at the frame
resolution (``refine: guided``), thresholded and cleaned; given frames keep their mask.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from smal4v.segment.flow import FlowParams, check_inputs, mask_params_of, refine_mask
from smal4v.segment.multiflow import FlowBank, MultiFlowParams
from smal4v.settings import build_settings

LOGIT_CLIP = 0.02  # probabilities are clipped to [clip, 1 - clip] before taking log-odds (|L| <= 3.9)


@dataclass
class PropagateParams:
    """Settings of the ``propagate`` method (config ``silhouettes.propagate``).

    Defaults were chosen on one DAVIS video and scored on the other
    (``benchmarks/results/densify.md``, ``docs/DENSIFY.md``).
    """

    flow: dict[str, Any] = field(default_factory=dict)  # MultiFlowParams keys
    confidence: bool = True  # per-pixel confidence fusion (False: temporal-distance weights, FB failures = background)
    step_decay: float = 0.95  # confidence factor per propagated frame (chosen on camel and on cows alike)
    prior_weight: float = 0.0  # weight of the segmenter's log-odds (0: no segmenter is run; the built-in
    # OSVOS with a synthetic parent did not help on camel or cows: raise it for a stronger plugged-in model)
    threshold: float = 0.5
    no_evidence_logit: float = -0.01  # added to every fused log-odds: a pixel no direction carries confidence to
    # (log-odds 0) is background, not a tie the threshold makes foreground; at 0, a textureless band of synthetic
    # video that lost all confidence, larger than the animal, won the largest-component rule
    # (benchmarks/results/densify_no_evidence.md)
    refine: str = "guided"  # "guided" (edge snapping at the frame resolution) or "none"
    guided_radius: int = 4  # frame pixels
    guided_eps: float = 1e-3
    morph_radius: int = 1
    fill_holes: bool = True
    keep_largest: bool = True
    progress: bool = True

    @classmethod
    def from_any(cls, params: "PropagateParams | Mapping[str, Any] | None") -> "PropagateParams":
        return build_settings(cls, params, "propagate")

    def flow_params(self) -> MultiFlowParams:
        return build_settings(MultiFlowParams, self.flow, "propagate.flow")

    def mask_params(self) -> FlowParams:
        """Threshold/cleaning settings in the form :func:`refine_mask` takes."""
        return mask_params_of(self)


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds of probabilities clipped to [LOGIT_CLIP, 1 - LOGIT_CLIP] (float32)."""
    q = np.clip(p, LOGIT_CLIP, 1 - LOGIT_CLIP).astype(np.float32)
    return np.log(q / (1 - q))


def carry(bank: FlowBank, start: np.ndarray, frames: list[int], step: int, p: PropagateParams) -> list[tuple[np.ndarray, np.ndarray]]:
    """Carry the given mask ``start`` (working size, next to ``frames[0]``) frame by frame
    through ``frames`` in the direction of ``step``: one (probability, confidence) per frame.

    Without ``confidence``, pixels failing the forward-backward check become background with
    full confidence (the plain flow method's rule); the caller weights by temporal distance.
    """
    out = []
    prob, conf = start.astype(np.float32), np.ones_like(start, dtype=np.float32)
    for t in frames:
        flow, consistency = bank.flow(t, t - step)
        prob = bank.warp(prob, flow)
        if p.confidence:
            conf = bank.warp(conf, flow) * consistency * p.step_decay
        else:
            prob[consistency < np.exp(-1.0)] = 0.0
        out.append((prob, conf))
    return out


def edge_refine(prob: np.ndarray, frame: np.ndarray, p: PropagateParams) -> np.ndarray:
    """Snap a probability map (frame size) to the image edges (guided filter) or pass it through."""
    if p.refine == "none":
        return prob
    if p.refine != "guided":
        raise ValueError(f"propagate refine must be 'guided' or 'none', got {p.refine!r}")
    from smal4v.segment.osvos import guided_filter  # (imports torch: only when refining)

    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    return guided_filter(grey, prob.astype(np.float32), p.guided_radius, p.guided_eps)


def propagated_logits(bank: FlowBank, masks: np.ndarray, given: np.ndarray, p: PropagateParams,
                      progress: bool = False, keep_flows: bool = False) -> np.ndarray:
    """Log-odds (N, h, w) at the flow working size of every frame from both neighbouring given
    masks (0 on given frames; the caller keeps their masks). Flows are dropped after each gap
    (memory stays that of one gap) unless ``keep_flows`` (to reuse ``bank`` for other settings)."""
    n = len(masks)
    small = bank.resize_masks(masks)
    out = np.zeros((n, *small.shape[1:]), np.float32)
    idx = np.flatnonzero(given)
    bounds = [(None, idx[0])] + list(zip(idx[:-1], idx[1:])) + [(idx[-1], None)]
    with tqdm(total=int((~given).sum()), desc="propagation", unit="frame", disable=not progress) as bar:
        for prev, nxt in bounds:
            lo, hi = (0 if prev is None else prev + 1), (n if nxt is None else nxt)
            if lo >= hi:
                continue
            span = list(range(lo, hi))
            fwd = carry(bank, small[prev], span, 1, p) if prev is not None else [None] * len(span)
            bwd = carry(bank, small[nxt], span[::-1], -1, p)[::-1] if nxt is not None else [None] * len(span)
            if not keep_flows:
                bank.clear()  # every pair of neighbours lies in one gap: its flows are done
            for k, t in enumerate(span):
                both = prev is not None and nxt is not None
                w_fwd = (nxt - t) / (nxt - prev) if both else 1.0  # without confidence: the closer source weighs more
                total = np.zeros(small.shape[1:], np.float32)
                for side, w_time in ((fwd[k], w_fwd), (bwd[k], 1.0 - w_fwd if both else 1.0)):
                    if side is not None:
                        prob, conf = side
                        total += (conf if p.confidence else np.float32(w_time)) * logit(prob)
                out[t] = total
                bar.update(1)
    return out


def fuse_and_finish(frames: np.ndarray, masks: np.ndarray, given: np.ndarray, prop_logits: np.ndarray,
                    prior: np.ndarray | None, p: PropagateParams) -> tuple[np.ndarray, np.ndarray]:
    """Add the segmenter prior (probabilities at the frame size, or None) to the propagated
    log-odds (no evidence at all = background: ``no_evidence_logit``), refine at the frame size,
    threshold and clean -> (masks bool, probabilities uint8)."""
    n, h, w = masks.shape
    out_masks = np.asarray(masks, bool).copy()
    out_prob = out_masks.astype(np.uint8) * 255
    mp = p.mask_params()
    for t in np.flatnonzero(~given):
        lg = cv2.resize(prop_logits[t], (w, h), interpolation=cv2.INTER_LINEAR) + p.no_evidence_logit
        if prior is not None and p.prior_weight > 0:
            lg = lg + p.prior_weight * logit(prior[t])
        prob = edge_refine(1.0 / (1.0 + np.exp(-lg)), frames[t], p)
        out_prob[t] = np.clip(np.rint(prob * 255), 0, 255).astype(np.uint8)
        out_masks[t] = refine_mask(prob, mp)
    return out_masks, out_prob


def densify_propagate(frames: np.ndarray, masks: np.ndarray, given: np.ndarray,
                      params: Mapping[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``propagate`` method: ``(masks (N,H,W) bool, probabilities uint8)``.

    ``params = {"propagate": {...PropagateParams}, "segmenter": {module, weights, options},
    "osvos": {...OsvosParams for the built-in segmenter}}``.
    """
    from smal4v.segment.segmenter import check_probabilities, load_segmenter

    params = dict(params or {})
    unknown = sorted(set(params) - {"propagate", "segmenter", "osvos"})
    if unknown:
        raise ValueError(f"unknown keys {unknown} in the propagate settings; expected propagate, segmenter, osvos")
    p = PropagateParams.from_any(params.get("propagate"))
    masks = np.asarray(masks, dtype=bool)
    given = np.asarray(given, dtype=bool)
    check_inputs(frames, masks, given)
    bank = FlowBank(frames, p.flow_params())
    prop = propagated_logits(bank, masks, given, p, p.progress)
    prior = None
    spec = params.get("segmenter") or {}
    if spec.get("module") and p.prior_weight <= 0:
        raise ValueError(f"silhouettes.segmenter.module {spec['module']} is set but propagate.prior_weight is "
                         f"{p.prior_weight}: set prior_weight > 0 (e.g. 1.0) for the segmenter to be used")
    if p.prior_weight > 0:
        segmenter = load_segmenter(spec, params.get("osvos"))
        prior = check_probabilities(segmenter.segment(frames, masks, given), masks.shape,
                                    str(spec.get("module") or "osvos"))
    return fuse_and_finish(frames, masks, given, prop, prior, p)
