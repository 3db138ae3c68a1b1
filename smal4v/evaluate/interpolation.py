"""The reference a temporal method must beat: training keypoints interpolated in 2D.

A network trained on sparse keypoints only earns its place on the frames between them if it
places those keypoints better than straight lines drawn between the annotated frames. The
evaluation scores this reference beside every variant (variant ``keypoints_interpolated``).
"""

from __future__ import annotations

import numpy as np

REFERENCE_VARIANT = "keypoints_interpolated"
"""Name of the reference in metrics tables."""


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
    n, k = kp.shape[:2]
    frames = np.arange(n)
    out = np.full((n, k, 2), np.nan)
    for j in range(k):
        known = train & (kp[:, j, 2] > 0)
        if known.any():
            for c in range(2):
                out[:, j, c] = np.interp(frames, frames[known], kp[known, j, c])
    missing = np.isnan(out[..., 0])
    if missing.all():
        raise ValueError("interpolation: no keypoint is visible on any training frame")
    centre = np.nanmean(np.where(missing[..., None], np.nan, out), axis=1)  # (N, 2)
    return np.where(missing[..., None], centre[:, None, :], out)
