"""The project's annotation format (``annotations/keypoints.json`` + ``annotations/masks/*.png``)
and its import into the "annotations" artifact. The format is documented for users in
``docs/ANNOTATIONS.md``.

Keypoint frames are split into *train* and *held-out* frames: the i-th annotated keypoint frame
(in frame order) is held out when ``i % heldout_every == offset % heldout_every``; the networks
never see held-out keypoints, which are used for PCK. ``heldout_every=0`` holds out nothing.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

FORMAT = "smal4v-keypoints/1"
SPLIT_NONE, SPLIT_TRAIN, SPLIT_HELDOUT = 0, 1, 2


class AnnotationError(ValueError):
    """Annotation files are malformed; the message names the file and the problem."""


@dataclass
class AnnotationSet:
    """Sparse annotations of one sequence: keypoints ``(K, 3)`` [x, y, visible] and boolean
    masks ``(H, W)``, each keyed by 0-based frame index."""

    keypoint_set: str
    names: list[str]
    image_size: tuple[int, int]  # (W, H)
    keypoints: dict[int, np.ndarray] = field(default_factory=dict)
    masks: dict[int, np.ndarray] = field(default_factory=dict)


def _keypoints_path(ann_dir: Path) -> Path:
    return ann_dir / "keypoints.json"


def mask_filename(index: int) -> str:
    """File name of the mask of frame ``index`` (6-digit zero-padded)."""
    return f"{index:06d}.png"


def read_annotation_dir(ann_dir: str | os.PathLike) -> AnnotationSet:
    """Read and validate ``<ann_dir>/keypoints.json`` and ``<ann_dir>/masks/*.png``.

    Either part may be absent (masks-only or keypoints-only annotation), but not both.
    """
    ann_dir = Path(ann_dir)
    kp_path = _keypoints_path(ann_dir)
    mask_dir = ann_dir / "masks"
    if not kp_path.is_file() and not mask_dir.is_dir():
        raise AnnotationError(f"annotation folder {ann_dir}: neither keypoints.json nor masks/ exists")
    if kp_path.is_file():
        ann = _read_keypoints_json(kp_path)
    else:
        ann = AnnotationSet(keypoint_set="", names=[], image_size=(0, 0))
    if mask_dir.is_dir():
        for png in sorted(mask_dir.glob("*.png")):
            if not re.fullmatch(r"\d+", png.stem):
                raise AnnotationError(f"mask {png}: file name must be the frame index, e.g. 000012.png")
            mask = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
            if mask is None:
                raise AnnotationError(f"mask {png}: cannot be read as an image")
            size = (mask.shape[1], mask.shape[0])
            if ann.image_size == (0, 0):
                ann.image_size = size
            elif size != tuple(ann.image_size):
                raise AnnotationError(
                    f"mask {png}: size {size[0]}x{size[1]} differs from image_size "
                    f"{ann.image_size[0]}x{ann.image_size[1]}"
                )
            ann.masks[int(png.stem)] = mask > 127
    return ann


def _read_keypoints_json(path: Path) -> AnnotationSet:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise AnnotationError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise AnnotationError(f"{path}: top level must be an object")
    if data.get("format") != FORMAT:
        raise AnnotationError(f"{path}: 'format' is {data.get('format')!r}, expected {FORMAT!r}")
    for key in ("names", "image_size", "frames"):
        if key not in data:
            raise AnnotationError(f"{path}: missing key {key!r}")
    names = data["names"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or not names:
        raise AnnotationError(f"{path}: 'names' must be a non-empty list of strings")
    size = data["image_size"]
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(s, int) and s > 0 for s in size)):
        raise AnnotationError(f"{path}: 'image_size' must be [W, H] positive integers, got {size!r}")
    if not isinstance(data["frames"], dict):
        raise AnnotationError(f"{path}: 'frames' must be an object {{frame index: keypoint rows}}, "
                              f"got {type(data['frames']).__name__}")
    if not isinstance(data.get("keypoint_set", ""), str):
        raise AnnotationError(f"{path}: 'keypoint_set' must be a string, got {data['keypoint_set']!r}")
    ann = AnnotationSet(str(data.get("keypoint_set", "")), list(names), (size[0], size[1]))
    k = len(names)
    for key, rows in data["frames"].items():
        if not re.fullmatch(r"\d+", str(key)):
            raise AnnotationError(f"{path}: frame key {key!r} is not a non-negative integer")
        arr = _number_rows(rows)
        if arr is None or arr.shape != (k, 3):
            got = f"shape {arr.shape}" if arr is not None else f"{str(rows)[:60]!r} (not a list of number rows)"
            raise AnnotationError(f"{path}: frame {key}: expected {k} rows of [x, y, visible], got {got}")
        if not np.isin(arr[:, 2], (0, 1)).all():
            raise AnnotationError(f"{path}: frame {key}: 'visible' must be 0 or 1")
        vis = arr[:, 2] > 0
        w, h = ann.image_size
        xy = arr[vis, :2]
        bad = ~np.isfinite(xy).all(axis=1) | (xy[:, 0] < 0) | (xy[:, 0] > w) | (xy[:, 1] < 0) | (xy[:, 1] > h)
        if bad.any():
            i = int(np.flatnonzero(vis)[np.flatnonzero(bad)[0]])
            raise AnnotationError(
                f"{path}: frame {key}: keypoint {names[i]!r} at ({arr[i, 0]:g}, {arr[i, 1]:g}) "
                f"is outside the {w}x{h} image"
            )
        arr[~vis, :2] = 0
        ann.keypoints[int(key)] = arr.astype(np.float32)
    return ann


def _number_rows(rows: Any) -> np.ndarray | None:
    """``rows`` as a float array if it is a list of lists of numbers (ragged or text: None)."""
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for r in rows for v in r):
        return None
    try:
        return np.asarray(rows, dtype=np.float64)
    except ValueError:  # ragged rows
        return None


def write_annotation_dir(ann_dir: str | os.PathLike, ann: AnnotationSet) -> Path:
    """Write ``ann`` in the project format (keypoints.json only if there are keypoint names)."""
    ann_dir = Path(ann_dir)
    ann_dir.mkdir(parents=True, exist_ok=True)
    if ann.names:
        frames = {
            str(i): [[round(float(x), 3), round(float(y), 3), int(v > 0)] for x, y, v in kp]
            for i, kp in sorted(ann.keypoints.items())
        }
        doc: dict[str, Any] = {
            "format": FORMAT,
            "keypoint_set": ann.keypoint_set,
            "names": list(ann.names),
            "image_size": [int(ann.image_size[0]), int(ann.image_size[1])],
            "frames": frames,
        }
        _keypoints_path(ann_dir).write_text(json.dumps(doc, indent=1))
    if ann.masks:
        (ann_dir / "masks").mkdir(exist_ok=True)
        for i, mask in sorted(ann.masks.items()):
            cv2.imwrite(str(ann_dir / "masks" / mask_filename(i)), mask.astype(np.uint8) * 255)
    return ann_dir


def split_keypoint_frames(indices: Sequence[int], heldout_every: int = 2, offset: int = 1) -> dict[int, int]:
    """Assign each annotated keypoint frame to train (1) or held out (2); see module docstring."""
    out: dict[int, int] = {}
    for i, frame in enumerate(sorted(indices)):
        held = heldout_every > 0 and i % heldout_every == offset % heldout_every
        out[int(frame)] = SPLIT_HELDOUT if held else SPLIT_TRAIN
    return out


def annotations_to_artifact(
    ann: AnnotationSet,
    n_frames: int,
    frame_size: tuple[int, int],
    heldout_every: int = 2,
    offset: int = 1,
    keypoint_set: str | None = None,
    keypoint_names: Sequence[str] | None = None,
    source: str = "annotations",
    drop_out_of_range: bool = False,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Dense per-frame arrays + attrs of the "annotations" artifact from sparse annotations.

    ``frame_size`` is the video's (W, H); it must equal the annotation's image_size.
    ``keypoint_set``/``keypoint_names``, when given, must agree with the file (and fill in
    names for mask-only annotations). Frames >= n_frames are an error unless
    ``drop_out_of_range`` (e.g. the video was truncated with max_frames).
    """
    w, h = int(frame_size[0]), int(frame_size[1])
    if tuple(ann.image_size) not in ((0, 0), (w, h)):
        raise AnnotationError(
            f"{source}: annotation image_size {ann.image_size[0]}x{ann.image_size[1]} differs "
            f"from the video frame size {w}x{h}"
        )
    names = list(ann.names) or list(keypoint_names or [])
    if keypoint_names is not None and ann.names and list(keypoint_names) != list(ann.names):
        raise AnnotationError(
            f"{source}: keypoint names {ann.names} differ from keypoint set "
            f"{keypoint_set or ''} names {list(keypoint_names)}"
        )
    kp_set = ann.keypoint_set or (keypoint_set or "")
    if keypoint_set and ann.keypoint_set and keypoint_set != ann.keypoint_set:
        raise AnnotationError(f"{source}: keypoint_set is {ann.keypoint_set!r}, expected {keypoint_set!r}")
    if not names:
        raise AnnotationError(f"{source}: no keypoint names (give keypoint_names for mask-only annotations)")
    k = len(names)
    for kind, frames in (("keypoints", ann.keypoints), ("mask", ann.masks)):
        bad = [i for i in frames if not 0 <= i < n_frames]
        if bad and not drop_out_of_range:
            raise AnnotationError(
                f"{source}: {kind} for frame {min(bad)} but the video has {n_frames} frames (0..{n_frames - 1})"
            )
    keypoints = np.zeros((n_frames, k, 3), dtype=np.float32)
    split = np.zeros(n_frames, dtype=np.uint8)
    masks = np.zeros((n_frames, h, w), dtype=bool)
    given = np.zeros(n_frames, dtype=bool)
    kp_frames = [i for i in ann.keypoints if 0 <= i < n_frames]
    for i in kp_frames:
        if ann.keypoints[i].shape != (k, 3):
            raise AnnotationError(f"{source}: frame {i}: {ann.keypoints[i].shape[0]} keypoints, expected {k}")
        keypoints[i] = ann.keypoints[i]
    for i, s in split_keypoint_frames(kp_frames, heldout_every, offset).items():
        split[i] = s
    for i, mask in ann.masks.items():
        if 0 <= i < n_frames:
            masks[i] = mask
            given[i] = bool(mask.any())  # an empty mask locates nothing: not a given mask
    datasets = {"keypoints": keypoints, "keypoint_split": split, "masks": masks, "masks_given": given}
    attrs = {"keypoint_set": kp_set, "keypoint_names": names}
    return datasets, attrs


def import_annotations(
    ann_dir: str | os.PathLike,
    n_frames: int,
    frame_size: tuple[int, int],
    heldout_every: int = 2,
    offset: int = 1,
    keypoint_set: str | None = None,
    keypoint_names: Sequence[str] | None = None,
    drop_out_of_range: bool = False,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read an annotation folder and build the "annotations" artifact's (datasets, attrs)."""
    ann = read_annotation_dir(ann_dir)
    return annotations_to_artifact(
        ann, n_frames, frame_size, heldout_every, offset, keypoint_set, keypoint_names,
        source=str(ann_dir), drop_out_of_range=drop_out_of_range,
    )
