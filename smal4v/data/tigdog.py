"""TigDog (Del Pero et al.; the SMAL4V thesis's loader, METHOD.md 6): MATLAB files read with scipy.io.

Layout (``<root>`` = the TigDog folder; ``<animal>`` e.g. ``tiger``, ``horse``)::

    <root>/<animal>/<frame>.jpg                  # all frames of the animal; <frame> is an integer
    <root>/ranges/<animal>/ranges.mat            # `ranges`: rows [annotation id, first frame, last frame]
    <root>/landmarks/<animal>/<id>.mat           # `landmarks`: cell (n, 2), row f - first = {kp (19, 2) [x, y], vis (19)}
    <root>/<animal>Seg/seg<id>.mat               # `segments`: cell (n,) of (H, W) masks, or an (H, W, n) array

Each annotated range (one shot) contributes its frames with a non-empty mask as images (image-set
format ``tigdog``; the crop box comes from the mask, as in the thesis's loader). The landmark
coordinates are MATLAB 1-based pixel coordinates: x_smal4v = x - 0.5 (pixel centres at +0.5).
Split: the thesis split 90/10 over an unsorted glob (METHOD.md 8.6); smal4v splits by shot so
that no test frame has a neighbouring frame in training: in sorted id order every 10th shot,
starting with the first, is ``test`` (or the ids listed in a text file). Assumptions (the cell
layouts above, the 19-point order of ``tigdog19.yaml``) are the thesis loader's reading of the
files, unverified against a copy of TigDog here.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path

import numpy as np
import scipy.io

from smal4v.data.annotations import AnnotationError
from smal4v.data.image_dataset import ImageRecord, read_id_list
from smal4v.data.video import list_frame_files, natural_key

N_LANDMARKS = 19
TEST_EVERY = 10


def _load_mat(path: Path, variable: str) -> np.ndarray:
    """One variable of a .mat file; errors name the file."""
    if not path.is_file():
        raise AnnotationError(f"TigDog file {path}: not found")
    try:
        contents = scipy.io.loadmat(str(path), squeeze_me=False)
    except (OSError, ValueError, NotImplementedError) as exc:
        raise AnnotationError(f"TigDog file {path}: not a readable .mat file: {exc}") from exc
    if variable not in contents:
        raise AnnotationError(f"TigDog file {path}: no variable {variable!r} (has {sorted(k for k in contents if not k.startswith('__'))})")
    return contents[variable]


def read_ranges(path: Path) -> np.ndarray:
    """``ranges.mat`` -> (M, 3) int rows [annotation id, first frame, last frame]."""
    ranges = np.asarray(_load_mat(path, "ranges"))
    if ranges.ndim != 2 or ranges.shape[1] != 3 or ranges.dtype.kind not in "iuf":
        raise AnnotationError(f"TigDog ranges {path}: expected rows [id, first, last], got {ranges.dtype} {ranges.shape}")
    ranges = ranges.astype(np.int64)
    bad = np.flatnonzero(ranges[:, 2] < ranges[:, 1])
    if bad.size:
        raise AnnotationError(f"TigDog ranges {path}: row {int(bad[0])} ends before it starts")
    return ranges


def read_landmarks(path: Path, n_frames: int) -> np.ndarray:
    """``<id>.mat`` -> (n_frames, 19, 3) [x, y, visible] in smal4v pixels (MATLAB x - 0.5)."""
    cells = _load_mat(path, "landmarks")
    if cells.dtype != object or cells.shape != (n_frames, 2):
        raise AnnotationError(f"TigDog landmarks {path}: expected a cell array of {n_frames} x {{kp, vis}}, got {cells.dtype} {cells.shape}")
    out = np.zeros((n_frames, N_LANDMARKS, 3))
    for f in range(n_frames):
        kp, vis = np.asarray(cells[f, 0], dtype=np.float64), np.asarray(cells[f, 1], dtype=np.float64).reshape(-1)
        if kp.shape != (N_LANDMARKS, 2) or vis.shape != (N_LANDMARKS,):
            raise AnnotationError(f"TigDog landmarks {path}, frame {f}: kp must be {N_LANDMARKS} x 2 and vis {N_LANDMARKS}, got {kp.shape} and {vis.shape}")
        visible = (vis > 0) & np.isfinite(kp).all(axis=1)
        out[f, visible, :2] = kp[visible] - 0.5
        out[f, :, 2] = visible
    return out


def read_segments(path: Path, n_frames: int) -> list[np.ndarray]:
    """``seg<id>.mat`` -> n_frames (H, W) bool masks."""
    segments = _load_mat(path, "segments")
    if segments.dtype == object:
        masks = [np.asarray(m) for m in segments.reshape(-1)]
    elif segments.ndim == 3:
        masks = [segments[:, :, f] for f in range(segments.shape[2])]
    else:
        masks = []
    if len(masks) != n_frames or any(m.ndim != 2 for m in masks):
        raise AnnotationError(f"TigDog segments {path}: expected {n_frames} masks (H x W), got {segments.dtype} {segments.shape}")
    return [m > 0 for m in masks]


def read_test_ids(path: str | os.PathLike | None, ids: Collection[int]) -> set[int]:
    """Test annotation ids: listed in a text file, or every 10th of the sorted ids from the first."""
    if path is None:
        return {i for k, i in enumerate(sorted(ids)) if k % TEST_EVERY == 0}
    return read_id_list(path, "TigDog test-id list")


def read_tigdog(root: str | os.PathLike, frames_dir: str | os.PathLike, split: str,
                test_file: str | os.PathLike | None = None) -> list[ImageRecord]:
    """The annotated frames with a non-empty mask of one animal's shots in ``split``."""
    root, frames_dir = Path(root), Path(frames_dir)
    animal = frames_dir.name
    by_number = {natural_key(p.name)[1]: p for p in list_frame_files(frames_dir)}
    ranges = read_ranges(root / "ranges" / animal / "ranges.mat")
    test = read_test_ids(test_file, ranges[:, 0].tolist())
    records = []
    for ann_id, first, last in ranges:
        if (int(ann_id) in test) != (split == "test"):
            continue
        n = int(last - first + 1)
        landmarks = read_landmarks(root / "landmarks" / animal / f"{ann_id}.mat", n)
        masks = read_segments(root / f"{animal}Seg" / f"seg{ann_id}.mat", n)
        for f in range(n):
            number = int(first) + f
            if number not in by_number:
                raise AnnotationError(f"TigDog ranges {root / 'ranges' / animal / 'ranges.mat'}: shot {ann_id} needs frame {number}, not in {frames_dir}")
            if masks[f].any():
                path = by_number[number]
                records.append(ImageRecord(f"{animal}/{path.name}", path, landmarks[f], None, lambda m=masks[f]: m))
    if not records:
        raise AnnotationError(f"TigDog {root} ({animal}): no annotated frame with a mask in split {split!r}")
    return records
