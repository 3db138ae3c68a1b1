"""Fit a single-frame network's parameters to its own 2D keypoint detections, frame by frame.

The keypoint head (:mod:`smal4v.nets.keypoint_head`) places keypoints more exactly than the
parameters the same network regresses (``benchmarks/results/keypoint_head.md``); a short
optimisation from the regressed estimate moves pose, shape and translation until the model's
projected keypoints meet the detections, weighted by how likely each keypoint is seen, under the
model's priors (SMALify-style fitting, with the network's detections instead of annotations).
The focal length stays the network's: depth and focal trade off along the same image. With a
silhouette head, the rendered silhouette is also fitted to the head's silhouette map (weight
``silhouette``): keypoints place the limbs, the outline places the body's extent.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from smal4v.nets.keypoint_head import DetectedKeypoints
from smal4v.nets.params import SMALParams
from smal4v.train.config import KeypointFitConfig
from smal4v.train.losses import keypoint_loss, parameter_losses, silhouette_loss, weighted_total
from smal4v.train.scene import Priors, Scene

FREE_FIELDS = ("betas", "pose", "trans", "limb_scale")
PULL_TERMS = ("betas", "pose", "root_pose", "pose_matrix", "root_matrix", "trans", "focal", "limb_scale")
"""The terms of :func:`~smal4v.train.losses.parameter_losses` (towards the regressed start), computed only if weighted."""


def fit_to_detections(start: SMALParams, detected: DetectedKeypoints, scene: Scene, priors: Priors,
                      cfg: KeypointFitConfig) -> SMALParams:
    """``start`` (N,) parameters moved ``cfg.steps`` Adam steps towards ``detected`` (N, K);
    returns detached parameters (``start`` itself when ``cfg.steps`` is 0)."""
    start = start.detach()
    if cfg.steps <= 0:
        return start
    targets = detected.as_targets().detach()
    free = {k: getattr(start, k).clone().requires_grad_(True) for k in FREE_FIELDS if getattr(start, k) is not None}
    pull_to_start = any(cfg.weights.get(k, 0.0) > 0 for k in PULL_TERMS)
    has_outline = detected.silhouette_logits is not None and cfg.weights.get("silhouette", 0.0) > 0
    outline = detected.silhouette(scene.mask_size).detach() if has_outline else None
    opt = torch.optim.Adam(list(free.values()), lr=cfg.lr)
    first_outline_step = cfg.steps - cfg.outline_steps if cfg.outline_steps > 0 else 0
    for step in range(cfg.steps):
        params = replace(start, **free)
        with_outline = outline is not None and step >= first_outline_step
        seen = scene(params, silhouette=with_outline)
        terms = {"keypoints": keypoint_loss(seen.keypoints, targets, scene.image_size),
                 **priors(params), **(parameter_losses(params, start) if pull_to_start else {})}
        if with_outline:
            terms["silhouette"] = silhouette_loss(seen.silhouette, outline)
        total, _ = weighted_total(terms, cfg.weights)
        opt.zero_grad()
        total.backward()
        opt.step()
    return replace(start, **{k: v.detach() for k, v in free.items()})
