"""Image datasets (StanfordExtra, Animal Pose, AnimalKey frames, TigDog): annotated images ->
the ``image_set`` artifact of one split.

Each dataset reader (``stanfordextra.py``, ``animalkey.py``, ``tigdog.py``) yields
:class:`ImageRecord` s in the dataset's own keypoint order and original-image pixels (x right,
y down, the package's pixel convention); :func:`build_image_set` maps them onto a keypoint set
(through its ``source_indices``) and cuts the square crop the single-frame networks see:
side ``margin * max(w, h)`` of the animal box, centred on it (WLDO/C2F: 1.2, METHOD.md 2.3),
resized to ``size`` px with black padding. ``in_image`` marks the crop pixels that lie inside
the image, which the published IoU ignores elsewhere (METHOD.md 5); images without a
segmentation keep ``has_mask`` False and are skipped by the published PCK and IoU.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from smal4v.data import artifacts, cropping
from smal4v.data.annotations import AnnotationError
from smal4v.data.video import VideoError, read_image
from smal4v.model.keypoints import KeypointSet, load_keypoint_set

MaskLoader = Callable[[], np.ndarray]


def read_json(path: str | os.PathLike, what: str) -> Any:
    """A dataset's JSON file; errors name ``what`` (e.g. "StanfordExtra json") and the file."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{what} {path}: file not found")
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AnnotationError(f"{what} {path}: not valid JSON: {exc}") from exc


def read_id_list(path: str | os.PathLike, what: str) -> set[int]:
    """Non-negative integers from a text file (whitespace or comma separated), e.g. the test
    sequences or shots of a split; errors name ``what`` and the file."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{what} {path}: file not found")
    tokens = path.read_text().replace(",", " ").split()
    if not tokens or not all(t.isdigit() for t in tokens):
        raise AnnotationError(f"{what} {path}: expected integers separated by spaces, commas or lines")
    return {int(t) for t in tokens}


@dataclass(frozen=True)
class ImageRecord:
    """One annotated image: keypoints ``(K_src, 3)`` [x, y, visible] in original pixels in the
    dataset's order; ``bbox`` [x, y, w, h] (None: from the mask, else the keypoints);
    ``mask`` a loader of the (H, W) bool segmentation, or None when the image has none."""

    name: str
    path: Path
    keypoints: np.ndarray
    bbox: np.ndarray | None = None
    mask: MaskLoader | None = None
    size: tuple[int, int] | None = None  # (W, H) the dataset states for the image, checked on read


def _read_checked_image(record: ImageRecord) -> np.ndarray:
    """The record's RGB image; its size must be the one the dataset states."""
    try:
        image = read_image(record.path)
    except VideoError as exc:
        raise AnnotationError(f"image {record.name}: {exc}") from exc
    h, w = image.shape[:2]
    if record.size is not None and (w, h) != tuple(record.size):
        raise AnnotationError(
            f"image {record.path}: size {w}x{h} differs from the annotated {record.size[0]}x{record.size[1]}"
        )
    return image


def _record_mask(record: ImageRecord, hw: tuple[int, int]) -> np.ndarray | None:
    """The record's segmentation as (H, W) bool, checked against the image size; None if absent."""
    if record.mask is None:
        return None
    mask = np.asarray(record.mask(), dtype=bool)
    if mask.shape != hw:
        raise AnnotationError(
            f"image {record.name}: segmentation is {mask.shape[1]}x{mask.shape[0]}, image is {hw[1]}x{hw[0]}"
        )
    return mask


def _animal_box(record: ImageRecord, mask: np.ndarray | None, keypoints: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """The box the crop is built around: given, else the mask's, else the visible keypoints',
    else the whole image."""
    if record.bbox is not None:
        return np.asarray(record.bbox, dtype=np.float64)
    for box in (cropping.bbox_from_mask(mask) if mask is not None else None,
                cropping.bbox_from_keypoints(keypoints, pad=0.1)):
        if box is not None and np.isfinite(box).all():
            return box.astype(np.float64)
    return np.array([0.0, 0.0, hw[1], hw[0]])


def crop_record(record: ImageRecord, keypoint_set: KeypointSet, size: int, margin: float = 1.2) -> dict[str, Any]:
    """One record -> crop, crop-pixel keypoints (on ``keypoint_set``), cropped mask, in-image
    pixels and the window. Keypoints leaving the crop become invisible."""
    source = keypoint_set.source_indices
    if source is None:
        raise AnnotationError(f"keypoint set {keypoint_set.name}: every keypoint needs a source_index")
    kp_src = np.asarray(record.keypoints, dtype=np.float64)
    if max(source) >= len(kp_src):
        raise AnnotationError(
            f"image {record.name}: {len(kp_src)} keypoints, keypoint set {keypoint_set.name} needs index {max(source)}"
        )
    image = _read_checked_image(record)
    hw = image.shape[:2]
    mask = _record_mask(record, hw)
    keypoints = kp_src[list(source)].copy()
    keypoints[:, 2] = keypoints[:, 2] > 0
    box = _animal_box(record, mask, keypoints, hw)
    window = cropping.crop_windows(box[None], margin=margin, smooth_sigma=0)[0]
    xy = cropping.original_to_crop(keypoints[:, :2], window, size)
    inside = ((xy >= 0) & (xy <= size)).all(axis=1)
    vis = (keypoints[:, 2] > 0) & inside
    crop_kp = np.column_stack([np.where(vis[:, None], xy, 0.0), vis]).astype(np.float32)
    return {
        "crops": cropping.crop_image(image, window, size),
        "keypoints": crop_kp,
        "masks": cropping.crop_mask(mask, window, size) if mask is not None else np.zeros((size, size), bool),
        "has_mask": mask is not None,
        "in_image": cropping.crop_mask(np.ones(hw, bool), window, size),
        "crop_boxes": window.astype(np.float32),
    }


def build_image_set(
    records: Sequence[ImageRecord], keypoint_set: KeypointSet | str, size: int, margin: float = 1.2
) -> dict[str, np.ndarray]:
    """Stacked :func:`crop_record` arrays of every record (the ``image_set`` datasets)."""
    kps = load_keypoint_set(keypoint_set) if isinstance(keypoint_set, (str, Path)) else keypoint_set
    if not records:
        raise AnnotationError("image set: no images")
    rows = [crop_record(r, kps, size, margin) for r in records]
    return {key: np.stack([row[key] for row in rows]) for key in rows[0]}


def write_image_set(
    records: Sequence[ImageRecord], out_path: str | os.PathLike, keypoint_set: str, size: int,
    margin: float = 1.2, source: str = "", created_by: str = "import_image_set",
) -> Path:
    """Write the ``image_set`` artifact of ``records`` (see :func:`build_image_set`)."""
    kps = load_keypoint_set(keypoint_set)
    datasets = build_image_set(records, kps, size, margin)
    attrs = {"keypoint_set": kps.name, "keypoint_names": kps.names,
             "image_names": [r.name for r in records], "source": source}
    return artifacts.write_artifact(out_path, "image_set", datasets, attrs, created_by)
