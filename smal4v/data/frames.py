"""Build the "frames" artifact: decoded frames, per-frame animal boxes and square crops.

Boxes come from the annotations (mask box where a mask is given, else a box around the visible
keypoints), are interpolated linearly over frames without one, turned into smoothed square
windows with a margin, and the crops are cut with black padding. With no annotated frame at
all the whole frame is the box.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from smal4v.data import artifacts, cropping
from smal4v.data.video import stream_video


def boxes_from_annotations(
    keypoints: np.ndarray, masks: Sequence[np.ndarray], masks_given: np.ndarray, keypoint_pad: float = 0.1
) -> np.ndarray:
    """Per-frame ``(N, 4)`` boxes ``[x, y, w, h]``: mask box where given (preferred, it covers the
    whole body), else keypoint box; NaN where neither exists. ``masks`` may be an HDF5 dataset:
    only the given frames' masks are read."""
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
    frame folders only. Frames are decoded, cropped and written one at a time: memory does not
    grow with the length of the video (the crop windows come from the annotations alone).
    """
    windows, boxes, expected = (None, None, None) if bbox_source is None else _annotation_windows(
        bbox_source, margin, smooth_sigma, keypoint_pad)
    stream = stream_video(source, fps=fps, max_frames=max_frames)
    names: list[str] = []
    with artifacts.artifact_writer(out_path, "frames", created_by) as out:
        for i, (name, frame) in enumerate(stream.frames):
            h, w = frame.shape[:2]
            if expected is not None and (i >= expected[0] or (h, w) != expected[1:]):
                raise ValueError(
                    f"annotations {bbox_source} cover {expected[0]} frames of {expected[2]}x{expected[1]}, but "
                    f"{source} has {'more frames' if i >= expected[0] else f'frames of {w}x{h}'}")
            if windows is None:  # no annotations: the whole frame, the same window for every frame
                whole = cropping.crop_windows(np.array([[0, 0, w, h]], np.float32), margin=1.0, smooth_sigma=0)[0]
            out.append("frames", frame)
            out.append("crops", cropping.crop_image(frame, whole if windows is None else windows[i], crop_size))
            names.append(name)
        n = len(names)
        if expected is not None and n != expected[0]:
            raise ValueError(f"annotations {bbox_source} cover {expected[0]} frames, but {source} has {n} frames")
        out.write("crop_boxes", np.tile(whole, (n, 1)) if windows is None else windows)
        out.write("bboxes", np.full((n, 4), np.nan, np.float32) if boxes is None else boxes)
        out.attrs.update({"fps": float(stream.fps), "source": str(source), "frame_names": names})
    return Path(out_path)


def _annotation_windows(bbox_source: str | os.PathLike, margin: float, smooth_sigma: float,
                        keypoint_pad: float) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int]]:
    """Crop windows ``(N, 3)``, the animal boxes ``(N, 4)`` they come from and ``(N, H, W)`` of an
    annotations artifact; its masks are read one given frame at a time."""
    with artifacts.open_artifact(bbox_source, "annotations") as ann:
        masks = ann["masks"]
        boxes = boxes_from_annotations(ann.read("keypoints"), masks, ann.read("masks_given"), keypoint_pad)
        n, h, w = masks.shape
    if np.isnan(boxes).any(axis=1).all():  # nothing annotated: the whole frame
        whole = np.tile(np.array([0, 0, w, h], dtype=np.float32), (n, 1))
        return cropping.crop_windows(whole, margin=1.0, smooth_sigma=0), boxes, (n, h, w)
    filled = cropping.interpolate_boxes(boxes)
    return cropping.crop_windows(filled, margin=margin, smooth_sigma=smooth_sigma), boxes, (n, h, w)
