"""Build the "frames" artifact: decoded frames, per-frame animal boxes and square crops.

Boxes come from the annotations (mask box where a mask is given, else a box around the visible
keypoints), are interpolated linearly over frames without one, turned into smoothed square
windows with a margin, and the crops are cut with black padding. With no annotated frame at
all the whole frame is the box.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from smal4v.data import artifacts, cropping
from smal4v.data.video import read_video


def boxes_from_annotations(
    keypoints: np.ndarray, masks: np.ndarray, masks_given: np.ndarray, keypoint_pad: float = 0.1
) -> np.ndarray:
    """Per-frame ``(N, 4)`` boxes ``[x, y, w, h]``: mask box where given (preferred, it covers the
    whole body), else keypoint box; NaN where neither exists."""
    n = len(keypoints)
    boxes = np.full((n, 4), np.nan, dtype=np.float32)
    for i in range(n):
        if masks_given[i] and masks[i].any():
            boxes[i] = cropping.bbox_from_mask(masks[i])
        else:
            boxes[i] = cropping.bbox_from_keypoints(keypoints[i], pad=keypoint_pad)
    return boxes


def extract_frames(
    source: str | os.PathLike,
    out_path: str | os.PathLike,
    crop_size: int = 224,
    margin: float = 1.2,
    bbox_source: str | os.PathLike | None = None,
    max_frames: int | None = None,
    fps: float = 25.0,
    smooth_sigma: float = 2.0,
    keypoint_pad: float = 0.1,
    created_by: str = "extract_frames",
) -> Path:
    """Decode ``source`` (video file or frame folder) and write the "frames" artifact.

    ``bbox_source``: an "annotations" artifact whose masks/keypoints locate the animal (it must
    have the video's frame count and size); None uses the whole frame. ``fps`` is used for
    frame folders only.
    """
    video = read_video(source, fps=fps, max_frames=max_frames)
    n, h, w = video.frames.shape[:3]
    if bbox_source is not None:
        ann = artifacts.read_artifact(bbox_source, "annotations", ["keypoints", "masks", "masks_given"])
        if ann["masks"].shape != (n, h, w):
            raise ValueError(
                f"annotations {bbox_source} cover {ann['masks'].shape[0]} frames of "
                f"{ann['masks'].shape[2]}x{ann['masks'].shape[1]}, but {source} has {n} frames of {w}x{h}"
            )
        boxes = boxes_from_annotations(ann["keypoints"], ann["masks"], ann["masks_given"], keypoint_pad)
    else:
        boxes = np.full((n, 4), np.nan, dtype=np.float32)
    if np.isnan(boxes).any(axis=1).all():
        filled = np.tile(np.array([0, 0, w, h], dtype=np.float32), (n, 1))
        windows = cropping.crop_windows(filled, margin=1.0, smooth_sigma=0)
    else:
        filled = cropping.interpolate_boxes(boxes)
        windows = cropping.crop_windows(filled, margin=margin, smooth_sigma=smooth_sigma)
    crops = np.stack([cropping.crop_image(f, win, crop_size) for f, win in zip(video.frames, windows)])
    return artifacts.write_artifact(
        out_path,
        "frames",
        {"frames": video.frames, "crops": crops, "crop_boxes": windows, "bboxes": boxes},
        {"fps": float(video.fps), "source": str(source), "frame_names": video.names},
        created_by=created_by,
    )
