"""StanfordExtra (Biggs et al., ECCV 2020) and WLDO's Animal Pose test set: json + split ``.npy``.

Layout (METHOD.md 6; both datasets share the schema)::

    StanfordExtra_v12.json                      # list of entries, one per image
    train_stanford_StanfordExtra_v12.npy        # int indices into that list (also val_, test_)
    Images/<img_path>                           # the Stanford Dogs images

    animal_pose_data.json, test_animal_pose.npy, Images/2007_000063.jpg ...   # Animal Pose (WLDO)

Fields read per entry: ``img_path`` (relative to ``Images/``), ``img_width``, ``img_height``,
``joints`` 24 x [x, y, visible] in image pixels, ``img_bbox`` [x0, y0, w, h], ``seg`` (COCO
compressed RLE: a ``counts`` string whose size is [img_height, img_width], or a ``{size,
counts}`` dict) and ``has_segmentation``. The (x, y) coordinates are taken as continuous image
coordinates (x right, y down) unchanged. Masks are decoded with pycocotools; an RLE whose runs
do not add up to the image's pixel count is an error, not silently truncated garbage.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from smal4v.data.annotations import AnnotationError
from smal4v.data.image_dataset import ImageRecord, read_json

N_JOINTS = 24


def rle_run_lengths(counts: str) -> list[int]:
    """Run lengths of a COCO compressed-RLE ``counts`` string (pycocotools' ``rleFrString``)."""
    runs: list[int] = []
    p = 0
    while p < len(counts):
        value, shift, more = 0, 0, True
        while more:
            if p >= len(counts):
                raise ValueError("truncated RLE string")
            c = ord(counts[p]) - 48
            value |= (c & 0x1F) << shift
            more = bool(c & 0x20)
            p += 1
            shift += 5
            if not more and c & 0x10:
                value |= -1 << shift
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
    return runs


def decode_rle(seg: Any, height: int, width: int, where: str) -> np.ndarray:
    """(H, W) bool mask of a COCO compressed RLE (string or ``{size, counts}``); ``where`` names
    the entry in errors (wrong size, runs that do not cover the image, bad encoding)."""
    from pycocotools import mask as mask_utils

    size = [int(height), int(width)]
    counts = seg
    if isinstance(seg, Mapping):
        if "counts" not in seg or "size" not in seg:
            raise AnnotationError(f"{where}: 'seg' must have 'counts' and 'size'")
        if [int(v) for v in seg["size"]] != size:
            raise AnnotationError(f"{where}: RLE size {list(seg['size'])} differs from the image's [h, w] {size}")
        counts = seg["counts"]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    if not isinstance(counts, str):
        raise AnnotationError(f"{where}: 'seg' must be a compressed RLE counts string, got {type(counts).__name__}")
    try:
        runs = rle_run_lengths(counts)
    except ValueError as exc:
        raise AnnotationError(f"{where}: bad RLE string: {exc}") from exc
    if sum(runs) != size[0] * size[1] or any(r < 0 for r in runs):
        raise AnnotationError(
            f"{where}: RLE covers {sum(runs)} pixels, the {size[1]}x{size[0]} image has {size[0] * size[1]}"
        )
    with warnings.catch_warnings():  # pycocotools 2.0.x warns about numpy 2's copy keyword
        warnings.simplefilter("ignore", DeprecationWarning)
        return mask_utils.decode({"size": size, "counts": counts.encode("ascii")}).astype(bool)


def read_split_indices(path: str | os.PathLike, n_entries: int) -> np.ndarray:
    """A split ``.npy``: integer indices into the json list (checked: exist, in range, unique)."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"split file {path}: file not found")
    try:
        idx = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise AnnotationError(f"split file {path}: not a numpy .npy array: {exc}") from exc
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
        raise AnnotationError(f"split file {path}: expected a 1-D integer array, got {idx.dtype} {idx.shape}")
    bad = idx[(idx < 0) | (idx >= n_entries)]
    if bad.size:
        raise AnnotationError(f"split file {path}: index {int(bad[0])} outside the json's {n_entries} entries")
    if len(np.unique(idx)) != len(idx):
        raise AnnotationError(f"split file {path}: repeated indices")
    return idx.astype(np.int64)


def _entry_record(entry: Any, index: int, json_path: Path, images_dir: Path) -> ImageRecord:
    """One json entry -> :class:`ImageRecord` (mask decoded lazily)."""
    where = f"{json_path}, entry {index}"
    if not isinstance(entry, Mapping):
        raise AnnotationError(f"{where}: expected an object")
    missing = [k for k in ("img_path", "img_width", "img_height", "joints", "img_bbox") if k not in entry]
    if missing:
        raise AnnotationError(f"{where}: missing field(s) {missing}")
    where = f"{where} ({entry['img_path']})"
    joints = np.asarray(entry["joints"], dtype=np.float64)
    if joints.shape != (N_JOINTS, 3) or not np.isfinite(joints).all():
        raise AnnotationError(f"{where}: 'joints' must be {N_JOINTS} x [x, y, visible], got shape {joints.shape}")
    bbox = np.asarray(entry["img_bbox"], dtype=np.float64)
    if bbox.shape != (4,) or not (bbox[2:] > 0).all():
        raise AnnotationError(f"{where}: 'img_bbox' must be [x0, y0, w, h] with w, h > 0, got {entry['img_bbox']}")
    h, w = int(entry["img_height"]), int(entry["img_width"])
    has_seg = bool(entry.get("has_segmentation", entry.get("seg") is not None))
    if has_seg and entry.get("seg") is None:
        raise AnnotationError(f"{where}: 'has_segmentation' is true but there is no 'seg'")
    mask = None
    if has_seg:
        seg = entry["seg"]
        decode_rle(seg, h, w, where)  # validated now, so a bad entry fails at import with its name
        mask = lambda seg=seg: decode_rle(seg, h, w, where)  # noqa: E731 (decoded again when cropped)
    return ImageRecord(str(entry["img_path"]), images_dir / str(entry["img_path"]), joints, bbox, mask, (w, h))


def read_stanfordextra(
    json_path: str | os.PathLike, images_dir: str | os.PathLike, split_file: str | os.PathLike | None
) -> list[ImageRecord]:
    """The entries of a StanfordExtra / Animal Pose json selected by a split ``.npy`` (in its
    order; ``split_file`` None: every entry)."""
    json_path, images_dir = Path(json_path), Path(images_dir)
    doc = read_json(json_path, "StanfordExtra json")
    if not isinstance(doc, list) or not doc:
        raise AnnotationError(f"StanfordExtra json {json_path}: expected a non-empty list of entries")
    indices: Sequence[int] = range(len(doc)) if split_file is None else read_split_indices(split_file, len(doc))
    return [_entry_record(doc[int(i)], int(i), json_path, images_dir) for i in indices]
