"""Per-video adaptation of the keypoint detector (``detector_adaptation``).

The parent's keypoint head was trained on generic synthetic animals and the training videos;
a new video shows one animal, in one look, throughout. Like OSVOS for masks, a copy of the
parent (encoder and head) is fine-tuned for a few hundred augmented steps on the video's own
annotated frames (their keypoints and masks) and then detects on every frame. The features
online training reads stay the parent's: only the detections (online's ``head_detections``
soft targets) come from the adapted copy. Held-out frames are never seen: the caller passes
training-split keypoints only. With ``interpolated_within`` > 0 the frames near an annotated one
train the copy too, on the training keypoints joined in time (for footage that moves slowly
between annotations: it helped camel and cows, and hurt synthetic gaits; docs/TRAINING.md).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from smal4v.data.keypoint_interpolation import frames_to_nearest_annotation, interpolation_targets
from smal4v.nets.single_frame import SingleFrameNet
from smal4v.train.config import DetectorAdaptationConfig
from smal4v.train.datasets import FrameDataset
from smal4v.train.loop import seed_everything
from smal4v.train.losses import detection_losses, weighted_total
from smal4v.train.mirror import Mirror
from smal4v.train.schedule import descend, learning_rate_factor, set_learning_rate
from smal4v.train.single_frame import augment


def annotated_frames(keypoints: np.ndarray) -> np.ndarray:
    """(N,) whether each frame of (N, K, 3) ``keypoints`` has at least one visible keypoint."""
    return (np.asarray(keypoints)[..., 2] > 0).any(-1)


def annotated_rows(keypoints: np.ndarray) -> np.ndarray:
    """Indices of the frames with at least one visible keypoint in (N, K, 3) ``keypoints``."""
    return np.flatnonzero(annotated_frames(keypoints))


def adaptation_targets(keypoints: np.ndarray, within: int) -> np.ndarray:
    """(N, K, 3) targets of the adaptation: the training keypoints (visibility 0 on frames it may
    not see) and, with ``within`` > 0, on the frames up to ``within`` frames from an annotation of
    a keypoint and between the first and last annotated frames, the keypoints interpolated in time
    with weight ``exp(-d / within)`` (:func:`interpolation_targets`): more looks at the animal
    for the detector, where a straight line between annotations is still close."""
    kp = np.asarray(keypoints, dtype=np.float32)
    if within == 0:
        return kp
    annotated = annotated_frames(kp)
    rows, frames = np.flatnonzero(annotated), np.arange(len(kp))
    soft = interpolation_targets(kp, float(within))
    inside = (frames > rows.min()) & (frames < rows.max())
    soft[..., 2] *= (frames_to_nearest_annotation(kp, annotated) <= within) & inside[:, None]
    return np.where(annotated[:, None, None], kp, soft)


def adapt_detector(
    net: SingleFrameNet, model: torch.nn.Module, keypoint_set: Any, crops: np.ndarray, keypoints: np.ndarray,
    masks: np.ndarray | None, cfg: DetectorAdaptationConfig | dict[str, Any], seed: int = 0, name: str = "video",
) -> SingleFrameNet:
    """A copy of ``net`` whose encoder and keypoint head were fine-tuned on the frames of one video
    that have keypoints: ``crops`` (N, S, S, 3) uint8, ``keypoints`` (N, K, 3) crop px (visibility
    0 on frames it may not see), ``masks`` (N, S, S) in [0, 1] or None. ``net`` itself is
    unchanged; with ``cfg.steps`` 0 the copy is returned as is. BatchNorm trains too: its
    statistics become the video's."""
    cfg = cfg if isinstance(cfg, DetectorAdaptationConfig) else DetectorAdaptationConfig.from_dict(cfg, "detector_adaptation")
    if net.keypoint_head is None:
        raise ValueError(f"{name}: detector_adaptation needs a parent with a keypoint head (network.keypoint_head: true)")
    adapted = copy.deepcopy(net)
    if cfg.steps == 0:
        return adapted
    if len(annotated_rows(keypoints)) == 0:
        raise ValueError(f"{name}: detector_adaptation.steps > 0 but the video has no training keypoints to adapt to; "
                         "set detector_adaptation.steps: 0 for videos without annotated frames")
    targets = adaptation_targets(keypoints, cfg.interpolated_within)
    rows = annotated_rows(targets)
    frames = FrameDataset(crops[rows], targets[rows], None if masks is None else masks[rows], name=name)
    seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    mirror = Mirror(model, keypoint_set) if cfg.augment.flip > 0 else None
    opt = torch.optim.Adam(adapted.parameters(), lr=cfg.lr)
    adapted.train()
    device = next(adapted.parameters()).device
    for step in range(cfg.steps):
        set_learning_rate(opt, learning_rate_factor(step, cfg.steps, 0.0, "cosine"))
        pick = torch.randint(len(frames), (cfg.batch_size,), generator=gen).numpy()
        batch = augment(frames.batch(pick), cfg.augment, gen, mirror).to(device)
        detected = adapted.features_with_keypoints(batch.images)[1]
        terms = detection_losses(detected, batch.keypoints, frames.image_size, cfg.loss.keypoint_loss,
                                 batch.masks, batch.mask_valid, cfg.loss.heatmap_sigma)
        descend(adapted, opt, weighted_total(terms, cfg.weights)[0], cfg.grad_clip)
    adapted.eval()
    return adapted
