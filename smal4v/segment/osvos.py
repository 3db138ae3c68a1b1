"""OSVOS silhouette densification: a parent segmenter fine-tuned on one sequence's given masks.

Workflow (Caelles et al., CVPR 2017): :func:`train_parent` trains :class:`OsvosNet` once on
the frames and masks of the training sequences (resumable, a model file under
``results/models/``); :func:`densify_osvos` fine-tunes a copy on the sequence's given masks
with augmentation (flips, scale/rotation/translation jitter, colour jitter) and predicts every
frame. Probabilities (optionally with the balanced loss's prior shift undone, ``calibrate``;
on by default; the paper thresholds the balanced output at 0.5, which over-segments here) are snapped to image edges with a
guided filter (``refine: guided``), thresholded and cleaned. Frames with a given
mask keep it. For temporal consistency see :mod:`smal4v.segment.combine` (``osvos+flow``).

Everything runs at a working resolution (longer side ``work_max_side``); probabilities are
resized back to the frame size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from smal4v.segment.flow import FlowParams, mask_params_of, refine_mask
from smal4v.segment.flow import check_inputs  # same input contract as flow
from smal4v.segment.osvos_net import OsvosNet, osvos_loss, prior_logit_shift
from smal4v.settings import build_settings
from smal4v.train.loop import (check_finite, data_fingerprint, fit, load_checkpoint, progress, save_checkpoint,
                               seed_everything, select_device)

MODEL_FORMAT = "smal4v-osvos/1"


@dataclass
class AugmentParams:
    """Random augmentation of a training frame and its mask."""

    flip: bool = True
    scale: float = 0.2  # zoom factor drawn from [1 - scale, 1 + scale]
    rotate: float = 10.0  # degrees, +-
    translate: float = 0.1  # fraction of the image size, +-
    colour: float = 0.15  # per-channel gain / brightness / contrast jitter


@dataclass
class OsvosParams:
    """Settings of the OSVOS method (config ``silhouettes.osvos``)."""

    parent: str | None = None  # parent model file from train_parent (None: fine-tune from scratch)
    backbone_weights: str | None = None  # ImageNet state_dict for the encoder (only without parent)
    backbone: str = "resnet_tiny"  # only used without a parent (a parent file fixes the network)
    side_channels: int = 8
    work_max_side: int = 320  # frames are processed at this longer side
    iterations: int = 300  # online fine-tuning steps
    batch_size: int = 4
    lr: float = 1e-3  # Adam, cosine-decayed to 0 over the iterations
    weight_decay: float = 1e-4
    side_weight: float = 0.5  # weight of the deep-supervision side losses
    augment: dict[str, Any] | None = None  # AugmentParams keys
    calibrate: bool = True  # undo the balanced loss's prior shift (camel: J 0.82 vs 0.75 without)
    threshold: float = 0.4  # on calibrated probabilities; tuned on camel (0.5: J 0.815, 0.4: 0.847)
    refine: str = "guided"  # "guided" (guided-filter edge snapping) or "none"
    guided_radius: int = 4  # in working-resolution pixels
    guided_eps: float = 1e-3
    morph_radius: int = 1
    fill_holes: bool = True
    keep_largest: bool = True
    batch_infer: int = 4
    threads: int = 0  # torch threads (0: leave torch's setting)
    device: str = "cpu"  # cpu | cuda | auto
    seed: int = 0
    progress: bool = True

    @classmethod
    def from_any(cls, params: "OsvosParams | Mapping[str, Any] | None") -> "OsvosParams":
        return build_settings(cls, params, "osvos")

    def augment_params(self) -> AugmentParams:
        return build_settings(AugmentParams, self.augment, "osvos.augment")

    def mask_params(self) -> FlowParams:
        """Threshold/cleaning settings in the form :func:`refine_mask` takes."""
        return mask_params_of(self)


@dataclass
class ParentParams:
    """Settings of :func:`train_parent` (config ``osvos_parent``)."""

    backbone: str = "resnet_tiny"
    side_channels: int = 8
    backbone_weights: str | None = None
    work_max_side: int = 160
    epochs: int = 20
    iterations_per_epoch: int = 50
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    side_weight: float = 0.5
    augment: dict[str, Any] | None = None
    threads: int = 0
    device: str = "cpu"  # cpu | cuda | auto
    seed: int = 0
    progress: bool = True
    checkpoint_every: int = 1

    @classmethod
    def from_any(cls, params: "ParentParams | Mapping[str, Any] | None") -> "ParentParams":
        return build_settings(cls, params, "osvos parent")


# ----------------------------------------------------------------------------- data


def work_size(h: int, w: int, max_side: int) -> tuple[int, int]:
    """(height, width) of the working resolution: longer side ``max_side`` (never upscaled)."""
    s = min(1.0, max_side / max(h, w))
    return max(16, round(h * s)), max(16, round(w * s))


def to_work(frames: np.ndarray, masks: np.ndarray | None, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray | None]:
    """Frames (N,H,W,3) uint8 and masks (N,H,W) resized to ``size``; masks become float
    coverage in [0, 1] (area-averaged), a soft target at the object's edge."""
    h, w = size
    if frames.shape[1:3] == (h, w):
        small = frames.copy()
    else:
        small = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames])
    if masks is None:
        return small, None
    m = np.stack([cv2.resize(x.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) for x in masks])
    return small, m


def augment(image: np.ndarray, mask: np.ndarray, p: AugmentParams, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One random similarity warp (+ flip) of image and mask together, and colour jitter."""
    h, w = mask.shape
    zoom = rng.uniform(1 - p.scale, 1 + p.scale)
    angle = rng.uniform(-p.rotate, p.rotate)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, zoom)
    m[:, 2] += rng.uniform(-p.translate, p.translate, 2) * (w, h)
    if p.flip and rng.random() < 0.5:
        m = np.array([[-1, 0, w], [0, 1, 0]], np.float64) @ np.vstack([m, [0, 0, 1]])
    img = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    msk = cv2.warpAffine(mask, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    img = img.astype(np.float32) / 255.0
    if p.colour > 0:
        gain = 1 + rng.uniform(-p.colour, p.colour, 3)
        contrast = 1 + rng.uniform(-p.colour, p.colour)
        bright = rng.uniform(-p.colour, p.colour) * 0.5
        mean = img.mean()
        img = np.clip((img * gain - mean) * contrast + mean + bright, 0, 1)
    return img.astype(np.float32), msk.astype(np.float32)


def _batch(images: Sequence[np.ndarray], masks: Sequence[np.ndarray], n: int, aug: AugmentParams,
           rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` augmented samples drawn uniformly from ``images``/``masks`` (all one size)."""
    picks = rng.integers(0, len(images), n)
    pairs = [augment(images[i], masks[i], aug, rng) for i in picks]
    x = torch.from_numpy(np.stack([p[0] for p in pairs])).permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(np.stack([p[1] for p in pairs]))[:, None]
    return x, y


def _to_tensor(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float().div_(255.0)


# ----------------------------------------------------------------------------- model files


def build_net(backbone: str, side_channels: int, backbone_weights: str | None) -> OsvosNet:
    net = OsvosNet(backbone, side_channels)
    if backbone_weights:
        net.load_backbone(backbone_weights)
    return net


def save_model(net: OsvosNet, path: str | Path, info: Mapping[str, Any]) -> Path:
    """Write a self-describing parent model file (atomic)."""
    state = {k: v.cpu() for k, v in net.state_dict().items()}
    save_checkpoint(path, {"format": MODEL_FORMAT, "arch": net.arch(), "model": state, "info": dict(info)})
    return Path(path)


def load_model(path: str | Path) -> tuple[OsvosNet, dict[str, Any]]:
    """Load a parent written by :func:`train_parent`; errors name the file."""
    state = load_checkpoint(path)
    if state.get("format") != MODEL_FORMAT:
        raise ValueError(f"{path} is not an OSVOS parent model (format {state.get('format')!r}, "
                         f"expected {MODEL_FORMAT!r}); train one with train_osvos_parent")
    net = OsvosNet(**state["arch"])
    net.load_state_dict(state["model"])
    return net, dict(state.get("info", {}))


# ----------------------------------------------------------------------------- training


def cosine_lr(base: float, step: int, total: int) -> float:
    """Cosine decay from ``base`` at step 0 to 0 at ``total``."""
    return 0.5 * base * (1 + math.cos(math.pi * min(step, total) / max(total, 1)))


def _train_steps(net: OsvosNet, opt: torch.optim.Optimizer, lr: float, first: int, total: int,
                 images: Sequence[np.ndarray], masks: Sequence[np.ndarray], steps: int, batch_size: int,
                 side_weight: float, aug: AugmentParams, rng: np.random.Generator, bar: bool, desc: str) -> float:
    """``steps`` optimiser steps on augmented batches (global steps ``first``.. of ``total``,
    cosine learning rate); returns the mean loss."""
    net.train()
    total_loss = 0.0
    for i in progress(range(steps), enabled=bar, desc=desc, total=steps):
        for group in opt.param_groups:
            group["lr"] = cosine_lr(lr, first + i, total)
        x, y = _batch(images, masks, batch_size, aug, rng)
        device = next(net.parameters()).device
        x, y = x.to(device), y.to(device)
        fused, sides = net(x)
        loss = osvos_loss(fused, sides, y, side_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total_loss += float(loss.detach())
    return total_loss / max(steps, 1)


def train_parent(sequences: Sequence[tuple[np.ndarray, np.ndarray]], out_path: str | Path,
                 cfg: ParentParams | Mapping[str, Any] | None = None, work_dir: str | Path | None = None) -> Path:
    """Train the parent on ``sequences`` = [(frames (N,H,W,3) uint8, masks (N,H,W) bool)] (only
    frames with a mask; sizes may differ between sequences) and write it to ``out_path``.

    Checkpoints go to ``work_dir`` (default ``<out_path>_train/``) after every
    ``checkpoint_every`` epochs; calling again resumes there. Deterministic given ``seed``.
    """
    p = ParentParams.from_any(cfg)
    if not sequences:
        raise ValueError("train_parent: no training sequence with masks")
    if p.threads > 0:
        torch.set_num_threads(p.threads)
    seed_everything(p.seed)
    images: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    side = p.work_max_side
    for k, (frames, masks) in enumerate(sequences):
        if len(frames) == 0:
            continue
        if masks.shape != frames.shape[:3]:
            raise ValueError(f"train_parent: sequence {k}: masks {masks.shape} do not match frames {frames.shape[:3]}")
        # every sample is brought to a side x side square (letterboxing is unnecessary for an FCN)
        small, m = to_work(frames, masks, (side, side))
        images.extend(small)
        targets.extend(m)
    if not images:
        raise ValueError("train_parent: the training sequences hold no frame with a mask")
    net = build_net(p.backbone, p.side_channels, p.backbone_weights).to(select_device(p.device))
    opt = torch.optim.Adam(net.parameters(), lr=p.lr, weight_decay=p.weight_decay)
    total_steps = p.epochs * p.iterations_per_epoch
    aug = build_settings(AugmentParams, p.augment, "osvos parent augment")
    out_path = Path(out_path)
    work_dir = Path(work_dir) if work_dir else out_path.with_name(out_path.stem + "_train")

    def epoch_fn(epoch: int) -> dict[str, float]:
        # learning rate and sampling stream derive from the epoch, so a resumed run ends
        # with the same parameters as an uninterrupted one
        rng = np.random.default_rng([p.seed, epoch])
        loss = _train_steps(net, opt, p.lr, epoch * p.iterations_per_epoch, total_steps, images, targets,
                            p.iterations_per_epoch, p.batch_size, p.side_weight, aug, rng, p.progress,
                            f"osvos parent epoch {epoch + 1}/{p.epochs}")
        return {"total": loss}

    run = {"osvos_parent_config": asdict(p), "data": data_fingerprint(images + targets)}  # resume only this run
    fit(net, opt, p.epochs, epoch_fn, work_dir, p.checkpoint_every, run, name="osvos_parent")
    fg = float(np.mean([t.mean() for t in targets]))
    return save_model(net, out_path, {"params": asdict(p), "n_images": len(images), "foreground_fraction": fg})


# ----------------------------------------------------------------------------- one sequence


def finetune(frames: np.ndarray, masks: np.ndarray, given: np.ndarray, p: OsvosParams) -> tuple[OsvosNet, float]:
    """Online fine-tuning on the given frames; returns (network, logit shift to subtract)."""
    if p.parent:
        net, _ = load_model(p.parent)
    else:
        net = build_net(p.backbone, p.side_channels, p.backbone_weights)
    net = net.to(select_device(p.device))
    size = work_size(*frames.shape[1:3], p.work_max_side)
    images, targets = to_work(frames[given], masks[given], size)
    torch.manual_seed(p.seed)
    rng = np.random.default_rng(p.seed)
    opt = torch.optim.Adam(net.parameters(), lr=p.lr, weight_decay=p.weight_decay)
    loss = _train_steps(net, opt, p.lr, 0, p.iterations, list(images), list(targets), p.iterations, p.batch_size,
                        p.side_weight, p.augment_params(), rng, p.progress, "osvos fine-tuning")
    check_finite(net, {"total": loss}, "osvos fine-tuning", 0)  # a diverged net would give empty masks
    shift = prior_logit_shift(float(targets.mean())) if p.calibrate else 0.0
    return net, shift


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Edge-preserving smoothing of ``src`` following the grey ``guide`` (He et al. 2010):
    snaps a blurry probability edge onto the image edge nearby."""
    k = (2 * radius + 1, 2 * radius + 1)

    def box(a: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(a, -1, k, borderType=cv2.BORDER_REFLECT)

    mi, mp = box(guide), box(src)
    a = (box(guide * src) - mi * mp) / (box(guide * guide) - mi * mi + eps)
    b = mp - a * mi
    return np.clip(box(a) * guide + box(b), 0.0, 1.0)


@torch.no_grad()
def predict(net: OsvosNet, frames: np.ndarray, p: OsvosParams, shift: float = 0.0) -> np.ndarray:
    """Foreground probability (N, H, W) float32 of every frame at the frame size."""
    n, h, w = frames.shape[:3]
    size = work_size(h, w, p.work_max_side)
    small, _ = to_work(frames, None, size)
    net.eval()
    out = np.empty((n, h, w), np.float32)
    starts = range(0, n, max(1, p.batch_infer))
    for s in progress(starts, enabled=p.progress, desc="osvos inference", total=len(starts)):
        chunk = small[s : s + p.batch_infer]
        x = _to_tensor(chunk).to(next(net.parameters()).device)
        prob = torch.sigmoid(net(x)[0][:, 0] - shift).cpu().numpy()
        for k, (pr, img) in enumerate(zip(prob, chunk)):
            if p.refine == "guided":
                grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
                pr = guided_filter(grey, pr, p.guided_radius, p.guided_eps)
            elif p.refine != "none":
                raise ValueError(f"osvos refine must be 'guided' or 'none', got {p.refine!r}")
            out[s + k] = pr if pr.shape == (h, w) else cv2.resize(pr, (w, h), interpolation=cv2.INTER_LINEAR)
    return out


def osvos_probabilities(frames: np.ndarray, masks: np.ndarray, given: np.ndarray,
                        p: OsvosParams) -> np.ndarray:
    """Fine-tune on the given frames and return every frame's probability (N, H, W) float32."""
    if p.threads > 0:
        torch.set_num_threads(p.threads)
    net, shift = finetune(frames, masks, given, p)
    return predict(net, frames, p, shift)


def finish(prob: np.ndarray, masks: np.ndarray, given: np.ndarray, mask_params: FlowParams) -> tuple[np.ndarray, np.ndarray]:
    """Threshold and clean probabilities; given frames keep their mask. -> (masks, uint8 probs)."""
    out_masks = np.asarray(masks, bool).copy()
    out_prob = np.clip(np.rint(prob * 255), 0, 255).astype(np.uint8)
    for t in np.flatnonzero(~given):
        out_masks[t] = refine_mask(prob[t], mask_params)
    out_prob[given] = out_masks[given].astype(np.uint8) * 255
    return out_masks, out_prob


def osvos_section(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The OSVOS settings in a method's params: ``params["osvos"]`` (the config layout)."""
    params = dict(params or {})
    unknown = sorted(set(params) - {"osvos", "flow", "fusion"})
    if unknown:
        raise ValueError(f"unknown keys {unknown} in the osvos method settings; expected osvos, flow, fusion")
    return dict(params.get("osvos") or {})


def densify_osvos(frames: np.ndarray, masks: np.ndarray, given: np.ndarray,
                  params: Mapping[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``osvos`` method: ``(masks (N,H,W) bool, probabilities uint8)``.

    ``params = {"osvos": {...OsvosParams keys, "parent": model file...}}``.
    """
    p = OsvosParams.from_any(osvos_section(params))
    masks = np.asarray(masks, dtype=bool)
    given = np.asarray(given, dtype=bool)
    check_inputs(frames, masks, given)
    seed_everything(p.seed, deterministic=False)
    prob = osvos_probabilities(frames, masks, given, p)
    return finish(prob, masks, given, p.mask_params())



def parent_training_pairs(frames_path: str | Path, annotations_path: str | Path,
                          ground_truth_path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(frames, masks) of one training sequence's frames with a mask: the given masks, and the
    ground-truth masks of ``ground_truth_path`` where it has them. Pass ground truth only for
    synthetic rows: a real video's ground truth is its evaluation data (the workflow does so)."""
    from smal4v.data import artifacts

    frames = artifacts.read_artifact(frames_path, "frames", ["frames"])["frames"]
    ann = artifacts.read_artifact(annotations_path, "annotations", ["masks", "masks_given"])
    masks, have = ann["masks"], ann["masks_given"].copy()
    if ground_truth_path is not None and Path(ground_truth_path).exists():
        gt = artifacts.read_artifact(ground_truth_path, "ground_truth", ["masks", "has_mask"])
        if gt["masks"].shape != masks.shape:
            raise ValueError(f"{ground_truth_path}: masks {gt['masks'].shape} do not match {annotations_path}: {masks.shape}")
        masks = np.where(gt["has_mask"][:, None, None], gt["masks"], masks)
        have |= gt["has_mask"]
    if masks.shape != frames.shape[:3]:
        raise ValueError(f"{annotations_path}: masks {masks.shape} do not match the frames of {frames_path}: {frames.shape[:3]}")
    return frames[have], masks[have]
