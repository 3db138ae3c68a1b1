"""Training keypoints interpolated in 2D between the frames that have them.

Two uses: the evaluation scores the straight lines as the reference a temporal method must beat
on the frames between the annotations (variant ``keypoints_interpolated``), and the online
networks may take them as soft targets on those frames, trusted less the farther a frame is from
an annotation (:func:`interpolation_targets`): a per-frame estimate that flips the animal between
two annotated frames is then pulled back to the motion the annotations describe.
"""

from __future__ import annotations

import numpy as np


def interpolate_training_keypoints(keypoints: np.ndarray, train: np.ndarray) -> np.ndarray:
    """(N, K, 2) positions: each keypoint linearly interpolated in time between the training
    frames (``train`` (N,) bool) where it is visible, held constant before the first and after
    the last; a keypoint never visible on a training frame sits at the frame's mean of the
    others (the animal's centre: a guess that only an exact hit could score).

    ``keypoints`` (N, K, 3) [x, y, visibility] as in the annotations artifact.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    train = np.asarray(train, dtype=bool)
    if kp.ndim != 3 or kp.shape[-1] < 3 or train.shape != kp.shape[:1]:
        raise ValueError(f"interpolation: keypoints {kp.shape} (need (N, K, 3)) and train frames {train.shape} disagree")
    frames = np.arange(len(kp))
    out = np.full(kp.shape[:2] + (2,), np.nan)
    for j in range(kp.shape[1]):
        known = train & (kp[:, j, 2] > 0)
        if known.any():
            for c in range(2):
                out[:, j, c] = np.interp(frames, frames[known], kp[known, j, c])
    missing = np.isnan(out[..., 0])
    if missing.all():
        raise ValueError("interpolation: no keypoint is visible on any training frame")
    centre = np.nanmean(np.where(missing[..., None], np.nan, out), axis=1)  # (N, 2)
    return np.where(missing[..., None], centre[:, None, :], out)


def frames_to_nearest_annotation(keypoints: np.ndarray, train: np.ndarray) -> np.ndarray:
    """(N, K) distance in frames from each frame to the nearest training frame where that
    keypoint is visible (inf for a keypoint no training frame shows)."""
    kp = np.asarray(keypoints, dtype=np.float64)
    frames = np.arange(len(kp))
    out = np.full(kp.shape[:2], np.inf)
    for j in range(kp.shape[1]):
        known = frames[np.asarray(train, dtype=bool) & (kp[:, j, 2] > 0)]
        if len(known):
            out[:, j] = np.abs(frames[:, None] - known[None, :]).min(1)
    return out


def interpolation_targets(keypoints: np.ndarray, decay: float) -> np.ndarray:
    """Soft targets (N, K, 3) [x, y, weight] from sparse training keypoints (N, K, 3) whose
    visibility is 0 on every frame training may not see: the straight lines of
    :func:`interpolate_training_keypoints` with weight ``exp(-d / decay)`` at d frames from the
    nearest annotation of that keypoint, 0 on the annotated frames themselves (their own labels
    train them) and for keypoints no frame shows."""
    if decay <= 0:
        raise ValueError(f"interpolation decay must be > 0 frames, got {decay}")
    kp = np.asarray(keypoints, dtype=np.float64)
    train = (kp[..., 2] > 0).any(-1)
    d = frames_to_nearest_annotation(kp, train)
    weight = np.where((d > 0) & np.isfinite(d), np.exp(-d / decay), 0.0)
    return np.concatenate([interpolate_training_keypoints(kp, train), weight[..., None]], -1).astype(np.float32)
