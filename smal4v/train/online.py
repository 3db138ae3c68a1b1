"""Per-sequence online training (stages ``online`` and ``online_single``).

Inputs are the frozen encoder's per-frame features (computed once per sequence with the same
in-encoder normalisation as training), sparse keypoints (visibility 0 on unannotated frames)
and dense masks from densification. Each step takes ``windows_per_batch`` windows of
``window`` frames; losses: keypoints (annotated frames), silhouettes (after the
``warmup_epochs`` keypoint-only epochs, where a mask exists; of ``silhouette_frames`` random
frames per window when set, since rendering is most of a step's time), temporal smoothness of
keypoints, pose and camera within windows, priors and, with weight ``interpolated_keypoints``
> 0, the training keypoints interpolated in time as soft targets on the frames between them;
with weight ``head_detections`` > 0, the parent's keypoint-head detections (stored with the
features) as soft targets on the frames without annotation, weighted by how sure the head is
that each keypoint is seen.
With ``view_hypotheses`` > 1 the body's facing is chosen first by short keypoint-only fits
(:func:`choose_view`). After training the windows are merged into one prediction per frame
(:func:`smal4v.nets.temporal.predict_sequence`).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smal4v.data.keypoint_interpolation import interpolation_targets
from smal4v.nets.params import SMALParams
from smal4v.nets.single_frame import SingleFrameNet
from smal4v.nets.temporal import SequenceNet, build_online_net, predict_sequence, window_starts
from smal4v.train.config import OnlineTrainConfig
from smal4v.train.loop import fit, load_checkpoint, progress, seed_everything, select_device
from smal4v.train.losses import keypoint_loss, silhouette_loss, temporal_losses, weighted_total
from smal4v.train.scene import Priors, Scene
from smal4v.train.schedule import descend, learning_rate_factor, set_learning_rate


class SequenceData:
    """Per-frame tensors of one sequence: features (N, D), keypoints (N, K, 3) crop px,
    masks (N, S, S) in [0, 1] or None, mask_valid (N,) (1 where a mask exists), detections
    (N, K, 3) [x, y, probability seen] crop px from the parent's keypoint head, or None."""

    def __init__(
        self, features: np.ndarray | torch.Tensor, keypoints: np.ndarray | None, masks: np.ndarray | None,
        image_size: int, mask_valid: np.ndarray | None = None, name: str = "sequence",
        detections: np.ndarray | None = None,
    ) -> None:
        self.features = torch.as_tensor(np.asarray(features), dtype=torch.float32)
        n = self.features.shape[0]
        if self.features.ndim != 2 or n == 0:
            raise ValueError(f"{name}: features must be (N, D) with N > 0, got {tuple(self.features.shape)}")
        self.keypoints = None if keypoints is None else torch.as_tensor(np.asarray(keypoints), dtype=torch.float32)
        if self.keypoints is not None and (self.keypoints.ndim != 3 or self.keypoints.shape[0] != n):
            raise ValueError(f"{name}: keypoints must be (N={n}, K, 3), got {tuple(self.keypoints.shape)}")
        self.masks = None
        if masks is not None:
            m = np.asarray(masks)
            if m.shape != (n, image_size, image_size):
                raise ValueError(f"{name}: masks must be ({n}, {image_size}, {image_size}), got {m.shape}")
            self.masks = torch.from_numpy(m.astype(np.float32) / (255.0 if m.dtype == np.uint8 else 1.0))
        self.mask_valid = torch.ones(n) if mask_valid is None else torch.as_tensor(np.asarray(mask_valid), dtype=torch.float32)
        self.detections = None if detections is None else torch.as_tensor(np.asarray(detections), dtype=torch.float32)
        if self.detections is not None and (self.detections.ndim != 3 or self.detections.shape[0] != n
                                            or self.detections.shape[-1] != 3):
            raise ValueError(f"{name}: detections must be (N={n}, K, 3), got {tuple(self.detections.shape)}")
        self.image_size, self.name = int(image_size), name

    def __len__(self) -> int:
        return int(self.features.shape[0])


def silhouette_rows(n_windows: int, length: int, per_window: int, generator: torch.Generator) -> torch.Tensor | None:
    """Flat row indices (into B x T) of ``per_window`` random frames of each window, sorted;
    None (every frame) when ``per_window`` is 0 or covers the window."""
    if per_window <= 0 or per_window >= length:
        return None
    picks = [w * length + torch.randperm(length, generator=generator)[:per_window] for w in range(n_windows)]
    return torch.cat(picks).sort().values


def window_losses(
    net: SequenceNet, scene: Scene, priors: Priors, data: SequenceData, starts: list[int], length: int,
    cfg: OnlineTrainConfig, use_silhouette: bool, device: torch.device,
    soft_targets: Mapping[str, torch.Tensor] | None = None, rows: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted loss of a batch of windows starting at ``starts``; ``soft_targets``: loss term ->
    (N, K, 3) [x, y, weight] keypoint targets for every frame (:func:`soft_keypoint_targets`);
    ``rows``: the flat (window x frame) rows whose silhouettes are compared (None = all)."""
    idx = torch.stack([torch.arange(s, s + length) for s in starts])  # (B, T)
    feats = data.features[idx].to(device)
    params = net(feats)  # (B, T)
    B, T = idx.shape
    flat = params.flatten()
    w = cfg.weights
    need_sil = use_silhouette and data.masks is not None and w.get("silhouette", 0) > 0
    offsets = net.vertex_offsets()
    sc = scene(flat, silhouette=need_sil, delta_v=None if offsets is None else offsets[None].expand(B * T, -1, -1),
               silhouette_rows=None if rows is None else rows.to(device))
    terms: dict[str, torch.Tensor] = {}
    if net.offsets is not None:
        terms["offset_smoothness"] = net.offsets.smoothness()
        terms["offset_norm"] = net.offsets.norm()
    if data.keypoints is not None:
        terms["keypoints"] = keypoint_loss(sc.keypoints, data.keypoints[idx.flatten()].to(device), data.image_size, cfg.loss.keypoint_loss)
    for term, targets in (soft_targets or {}).items():
        terms[term] = keypoint_loss(sc.keypoints, targets[idx.flatten()].to(device), data.image_size, cfg.loss.keypoint_loss)
    if need_sil:
        frames = idx.flatten() if rows is None else idx.flatten()[rows]
        tgt = scene.resize_masks(data.masks[frames].to(device))  # type: ignore[index]
        terms["silhouette"] = silhouette_loss(
            sc.silhouette, tgt, data.mask_valid[frames].to(device), cfg.loss.silhouette_loss,  # type: ignore[arg-type]
            cfg.loss.tversky_alpha, cfg.loss.tversky_beta,
        )
    terms.update(temporal_losses(params, sc.keypoints.unflatten(0, (B, T)), data.image_size, cfg.loss.temporal_order))
    terms.update(priors(flat))
    return weighted_total(terms, w)


def soft_keypoint_targets(data: SequenceData, cfg: OnlineTrainConfig) -> dict[str, torch.Tensor]:
    """Loss term -> (N, K, 3) soft keypoint targets for the frames training has no keypoints of:
    ``interpolated_keypoints`` (the training keypoints joined in time) and ``head_detections``
    (the parent's detections, weighted by their probability of being seen), each where weighted."""
    targets: dict[str, torch.Tensor] = {}
    if cfg.weights.get("interpolated_keypoints", 0) > 0 and data.keypoints is not None:
        targets["interpolated_keypoints"] = torch.from_numpy(interpolation_targets(data.keypoints.numpy(),
                                                                                   cfg.interpolation_decay))
    if cfg.weights.get("head_detections", 0) > 0:
        if data.detections is None:
            raise ValueError(f"{data.name}: online weights.head_detections > 0 but its features hold no keypoint "
                             "detections: train the parent with network.keypoint_head: true")
        targets["head_detections"] = detection_targets(data.detections, data.keypoints)
    return targets


def detection_targets(detections: torch.Tensor, keypoints: torch.Tensor | None) -> torch.Tensor:
    """(N, K, 3) detections [x, y, probability seen] -> soft targets with weight 0 on the frames
    that have training keypoints (their labels train them)."""
    annotated = torch.zeros(len(detections), dtype=torch.bool) if keypoints is None else (keypoints[..., 2] > 0).any(-1)
    weight = detections[..., 2] * (~annotated)[:, None]
    return torch.cat((detections[..., :2], weight[..., None]), -1)


def adam(net: SequenceNet, cfg: OnlineTrainConfig) -> torch.optim.Adam:
    """The online optimiser: Adam over the network's parameter groups (vertex offsets apart)."""
    return torch.optim.Adam(net.parameter_groups(cfg.lr_offsets), lr=cfg.lr, betas=tuple(cfg.adam_betas),  # type: ignore[arg-type]
                            weight_decay=cfg.weight_decay)


def fit_view_hypothesis(
    parent: SingleFrameNet, model: torch.nn.Module, data: SequenceData, cfg: OnlineTrainConfig, scene: Scene,
    priors: Priors, device: torch.device, starts: list[int], length: int, angle: float,
) -> SequenceNet:
    """A fresh online net with the body turned by ``angle`` radians after the short keypoint-only
    fit (``cfg.hypothesis_steps`` steps, one window each) that :func:`choose_view` compares; with
    ``cfg.hypothesis_net: single`` a per-frame net without the GRU."""
    if cfg.hypothesis_net == "single":
        cfg = dataclasses.replace(cfg, temporal=False)
    seed_everything(cfg.seed)
    net = build_online_net(parent, cfg, data.features, model).to(device)
    net.set_root_turn(angle)
    opt = adam(net, cfg)
    for step in range(cfg.hypothesis_steps):
        total, _ = window_losses(net, scene, priors, data, [starts[step % len(starts)]], length, cfg, False, device)
        descend(net, opt, total, cfg.grad_clip)
    return net


def choose_view(
    parent: SingleFrameNet, model: torch.nn.Module, data: SequenceData, cfg: OnlineTrainConfig, scene: Scene,
    priors: Priors, device: torch.device, starts: list[int], length: int,
) -> tuple[float, list[float]]:
    """The body turn (radians about its up axis) of ``cfg.view_hypotheses`` evenly spaced ones
    whose short keypoint-only fit (``cfg.hypothesis_steps``, silhouettes off) ends with the lowest
    loss over every window, and those losses: a parent that sees the animal facing the wrong way
    otherwise leaves the per-video fit in that local minimum. A turn has to beat the parent's own
    facing by ``cfg.view_margin`` (relative): on a tie the parent's view stands. Uses the training
    keypoints only."""
    angles = [2 * math.pi * k / cfg.view_hypotheses for k in range(cfg.view_hypotheses)]
    losses = []
    for angle in angles:
        net = fit_view_hypothesis(parent, model, data, cfg, scene, priors, device, starts, length, angle)
        with torch.no_grad():
            losses.append(sum(float(window_losses(net, scene, priors, data, [s], length, cfg, False, device)[0])
                              for s in starts) / len(starts))
    return angles[pick_view(losses, cfg.view_margin)], losses


def pick_view(losses: Sequence[float], margin: float) -> int:
    """Index of the view hypothesis with the lowest loss, unless it beats the unturned one
    (index 0, the parent's facing) by less than ``margin`` (relative): then 0."""
    best = min(range(len(losses)), key=losses.__getitem__)
    return 0 if losses[best] > (1.0 - margin) * losses[0] else best


def train_online(
    parent: SingleFrameNet,
    model: torch.nn.Module,
    renderer: Any | None,
    data: SequenceData,
    cfg: OnlineTrainConfig | dict[str, Any],
    out_dir: str | Path,
    keypoint_set: Any,
) -> tuple[SequenceNet, SMALParams, list[dict[str, float]]]:
    """Build the online net from ``parent`` (TemporalNet or OnlineSingleNet per ``cfg.temporal``),
    train it on one sequence, and return (net, per-frame merged predictions (N,) on CPU, history);
    with ``cfg.shape_offsets``, ``net.vertex_offsets()`` is the sequence's learned vertex offsets.

    Resumes from ``out_dir/checkpoint.pt`` if present.
    """
    cfg = cfg if isinstance(cfg, OnlineTrainConfig) else OnlineTrainConfig.from_dict(cfg, "online")
    seed_everything(cfg.seed)
    device = select_device(cfg.device)
    model.to(device)
    scene = Scene(model, keypoint_set, data.image_size, cfg.loss.mask_size, cfg.loss.silhouette_sigma, renderer)
    priors = Priors(model, parent.config.shape_family).to(device)
    n = len(data)
    length = min(cfg.window, n)
    starts = window_starts(n, cfg.window, cfg.stride)
    turn = 0.0
    if cfg.view_hypotheses > 1 and data.keypoints is not None:
        turn, losses = choose_view(parent, model, data, cfg, scene, priors, device, starts, length)
        print(f"{data.name}: view hypotheses {[round(v, 4) for v in losses]} -> body turned {math.degrees(turn):.0f} deg",
              file=sys.stderr)
        seed_everything(cfg.seed)
    net = build_online_net(parent, cfg, data.features, model).to(device)
    net.set_root_turn(turn)
    opt = adam(net, cfg)

    steps_per_epoch = -(-len(starts) // cfg.windows_per_batch)
    soft_targets = soft_keypoint_targets(data, cfg)

    def epoch_fn(epoch: int) -> dict[str, float]:
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
        order = [starts[i] for i in torch.randperm(len(starts), generator=gen).tolist()]
        groups = [order[i : i + cfg.windows_per_batch] for i in range(0, len(order), cfg.windows_per_batch)]
        net.train()
        sums: dict[str, float] = {}
        for step, group in enumerate(progress(groups, cfg.progress, f"online epoch {epoch + 1}/{cfg.epochs}")):
            set_learning_rate(opt, learning_rate_factor(epoch * steps_per_epoch + step, cfg.epochs * steps_per_epoch,
                                                        cfg.lr_warmup, cfg.lr_schedule))
            rows = silhouette_rows(len(group), length, cfg.silhouette_frames, gen)
            total, logged = window_losses(net, scene, priors, data, group, length, cfg, epoch >= cfg.warmup_epochs, device,
                                          soft_targets, rows)
            descend(net, opt, total, cfg.grad_clip)
            for k, v in logged.items():
                sums[k] = sums.get(k, 0.0) + v / len(groups)
        return sums

    extra = {"online_config": cfg.to_dict(), "net_config": parent.config.to_dict()}
    history = fit(net, opt, cfg.epochs, epoch_fn, out_dir, cfg.checkpoint_every, extra, name="online")
    net.eval()
    preds = predict_sequence(net, data.features.to(device), cfg.window, cfg.stride, cfg.merge).to("cpu")
    return net, preds, history


def load_online_net(path: str | Path, parent: SingleFrameNet, model: torch.nn.Module,
                    features: torch.Tensor) -> tuple[SequenceNet, OnlineTrainConfig]:
    """A trained per-video network (a ``train_online`` checkpoint, ``models/online/<seq>.pt``)
    and its settings, rebuilt on its parent and the video's features (N, D): to predict again
    (another window merge) without training again."""
    state = load_checkpoint(path)
    cfg = OnlineTrainConfig.from_dict(state["online_config"], f"online settings in {path}")
    net = build_online_net(parent, cfg, features, model)
    net.load_state_dict(state["model"])
    return net.eval(), cfg
