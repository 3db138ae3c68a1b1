"""AnimalKey (the SMAL4V thesis's cow data): the temporal and the single-frame layouts.

Temporal layout (METHOD.md 6; sheet format ``animalkey``, one row per sequence)::

    _sequences/seq295_test/cow_00001.jpg ...        # frames *_<int>.jpg (sheet ``source``)
    _sequences/seq295_test/anno/bboxes.json         # {"<frame>.jpg" or "<frame>": [x, y, w, h]}, every frame
    _sequences/seq295_test/anno/keypoints_gt/<frame>.pkl   # numpy (30, 3) [x, y, visible], sparse
    _sequences/seq295_test/anno/masks_gt/<frame>.png       # sparse GT masks
    _sequences/seq295_test/anno/masks_osvos/<frame>.png    # optional dense (OSVOS) masks

Single-frame layout (image-set format ``animalkey_frames``) and the evaluation set (format
``animalkey_test_set``)::

    _frames/img/seq295_00001.jpg, _frames/kp/<name>.pkl, _frames/mask/<name>.png, _frames/bboxes.json
    cows_test_set/<name>.jpg, cows_test_set/annotations/<name>.pkl, cows_test_set/masks/<name>.png,
    cows_test_set/bboxes.json

Frames are ordered by the integer after the last ``_`` of the file name with everything from its
first ``.`` removed; the name, not the path, is parsed, so dots in folder names (which broke the
reference loader, METHOD.md 8.6) are harmless. Keypoint pickles are read with the restricted
unpickler of :mod:`smal4v.model.smal_pickle` (plain numpy arrays only; nothing is executed) and
must be 30 x 3 (x, y, visible) in original-image pixels, taken as continuous coordinates
(x right, y down) unchanged. The 30 points are mapped onto the model by the ``animalkey30``
keypoint set, whose semantics are an assumption (its YAML header says which). The default test
split is the thesis's 16 test sequences.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from smal4v.data.annotations import AnnotationError, AnnotationSet, annotations_to_artifact
from smal4v.data.image_dataset import ImageRecord, read_id_list, read_json
from smal4v.data.sheet import REQUIRED_COLUMNS, SequenceRow, load_sequence_sheet
from smal4v.data.video import IMAGE_EXTENSIONS, list_frame_files
from smal4v.model.keypoints import KeypointSet, load_keypoint_set
from smal4v.model.smal_pickle import UnsafePickleError, safe_load_pickle

N_KEYPOINTS = 30
TEST_SEQUENCES = (295, 296, 297, 301, 302, 306, 307, 313, 343, 352, 353, 460, 461, 476, 484, 489)
"""The thesis's 16 AnimalKey test sequences (METHOD.md 6)."""
_SEQUENCE = re.compile(r"^seq(\d+)(_test)?$")
_FRAME_SEQUENCE = re.compile(r"^seq(\d+)_")
MASK_SOURCES = {"gt": "masks_gt", "osvos": "masks_osvos"}


def frame_number(path: str | os.PathLike) -> int:
    """The AnimalKey sort key of a frame file: the integer after the last ``_`` of its name with
    everything from the first ``.`` removed (``cow_0012.jpg`` -> 12)."""
    stem = Path(path).name.split(".", 1)[0]
    tail = stem.rsplit("_", 1)[-1]
    if "_" not in stem or not tail.isdigit():
        raise AnnotationError(f"AnimalKey frame {path}: name must end in _<integer> (e.g. cow_0012.jpg)")
    return int(tail)


def sequence_frames(seq_dir: str | os.PathLike) -> list[Path]:
    """Frame files of a sequence folder in AnimalKey order, which must also be the order the
    frame extraction reads them in (:func:`smal4v.data.video.list_frame_files`)."""
    files = list_frame_files(seq_dir)
    ordered = sorted(files, key=frame_number)
    numbers = [frame_number(f) for f in ordered]
    if len(set(numbers)) != len(numbers):
        dup = next(n for n in numbers if numbers.count(n) > 1)
        raise AnnotationError(f"AnimalKey sequence {seq_dir}: two frames have number {dup}")
    if ordered != files:
        raise AnnotationError(
            f"AnimalKey sequence {seq_dir}: the frame names' last integers do not follow the _<int> order "
            f"({files[0].name} ...); rename the frames to <prefix>_<int>.jpg"
        )
    return files


def read_bboxes(path: Path, frame_names: Sequence[str]) -> np.ndarray:
    """``bboxes.json`` -> (N, 4) [x, y, w, h] in frame order; every frame needs an entry, keyed by
    its file name (``cow_0012.jpg``) or its stem (``cow_0012``)."""
    doc = read_json(path, "AnimalKey bboxes")
    if not isinstance(doc, dict):
        raise AnnotationError(f"AnimalKey bboxes {path}: expected an object keyed by frame")
    boxes = np.zeros((len(frame_names), 4), dtype=np.float32)
    for i, name in enumerate(frame_names):
        stem = name.split(".", 1)[0]
        key = name if name in doc else stem if stem in doc else None
        if key is None:
            raise AnnotationError(f"AnimalKey bboxes {path}: no entry for frame {name!r} (keyed {name!r} or {stem!r})")
        box = np.asarray(doc[key], dtype=np.float64) if isinstance(doc[key], list) else None
        if box is None or box.shape != (4,) or not np.isfinite(box).all() or not (box[2:] > 0).all():
            raise AnnotationError(f"AnimalKey bboxes {path}: entry {key!r} must be [x, y, w, h] with w, h > 0")
        boxes[i] = box
    return boxes


def read_keypoint_pickle(path: Path, n_keypoints: int = N_KEYPOINTS) -> np.ndarray:
    """One AnimalKey keypoint pickle: a plain numpy (K, 3) [x, y, visible] array, unpickled
    without running code."""
    try:
        arr = safe_load_pickle(path)
    except (UnsafePickleError, ValueError) as exc:
        raise AnnotationError(f"AnimalKey keypoints {path}: {exc}") from exc
    if not isinstance(arr, np.ndarray) or arr.shape != (n_keypoints, 3) or arr.dtype.kind not in "iuf":
        what = f"array {arr.shape}" if isinstance(arr, np.ndarray) else type(arr).__name__
        raise AnnotationError(f"AnimalKey keypoints {path}: expected a numpy {n_keypoints} x 3 [x, y, visible] array, got {what}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise AnnotationError(f"AnimalKey keypoints {path}: non-finite values")
    return arr


def map_keypoints(raw: np.ndarray, kps: KeypointSet) -> np.ndarray:
    """(30, 3) AnimalKey rows -> (K, 3) [x, y, visible] on ``kps`` (invisible rows zeroed)."""
    out = raw[list(kps.source_indices or [])].astype(np.float32)
    vis = out[:, 2] > 0
    out[:, 2] = vis
    out[~vis, :2] = 0
    return out


def read_mask(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """A mask PNG as (H, W) bool (> 127 = animal); its size must be ``size`` (W, H) if given."""
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise AnnotationError(f"AnimalKey mask {path}: cannot be read as an image")
    if size is not None and (mask.shape[1], mask.shape[0]) != tuple(size):
        raise AnnotationError(f"AnimalKey mask {path}: size {mask.shape[1]}x{mask.shape[0]}, frames are {size[0]}x{size[1]}")
    return mask > 127


def _files_by_stem(folder: Path, suffixes: Collection[str]) -> dict[str, Path]:
    return {p.name.split(".", 1)[0]: p for p in sorted(folder.iterdir()) if p.suffix.lower() in suffixes} if folder.is_dir() else {}


def read_animalkey_sequence(
    seq_dir: str | os.PathLike, anno_dir: str | os.PathLike | None = None,
    keypoint_set: KeypointSet | str = "animalkey30", masks: str = "gt",
) -> tuple[AnnotationSet, np.ndarray]:
    """Sparse annotations of one AnimalKey sequence (frame index = position in AnimalKey order)
    and its (N, 4) boxes. ``masks``: ``gt`` (sparse ``masks_gt``) or ``osvos`` (dense
    ``masks_osvos``) as the masks given to the method."""
    seq_dir = Path(seq_dir)
    anno = Path(anno_dir) if anno_dir else seq_dir / "anno"
    if masks not in MASK_SOURCES:
        raise AnnotationError(f"AnimalKey masks {masks!r}: must be one of {sorted(MASK_SOURCES)}")
    kps = load_keypoint_set(keypoint_set) if isinstance(keypoint_set, (str, Path)) else keypoint_set
    files = sequence_frames(seq_dir)
    stems = {f.name.split(".", 1)[0]: i for i, f in enumerate(files)}
    first = cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED)
    if first is None:
        raise AnnotationError(f"AnimalKey frame {files[0]}: cannot be read as an image")
    size = (first.shape[1], first.shape[0])
    boxes = read_bboxes(anno / "bboxes.json", [f.name for f in files])
    ann = AnnotationSet(kps.name, list(kps.names), size)
    for stem, path in _files_by_stem(anno / "keypoints_gt", {".pkl"}).items():
        if stem not in stems:
            raise AnnotationError(f"AnimalKey keypoints {path}: no frame {stem!r} in {seq_dir}")
        points = map_keypoints(read_keypoint_pickle(path), kps)
        vis = points[:, 2] > 0
        if ((points[vis, 0] > size[0]) | (points[vis, 1] > size[1]) | (points[vis, :2] < 0).any(1)).any():
            raise AnnotationError(f"AnimalKey keypoints {path}: a visible keypoint lies outside the {size[0]}x{size[1]} frame")
        ann.keypoints[stems[stem]] = points
    mask_dir = anno / MASK_SOURCES[masks]
    if masks == "osvos" and not mask_dir.is_dir():
        raise AnnotationError(f"AnimalKey masks {mask_dir}: folder not found (annotations.animalkey_masks: osvos)")
    for stem, path in _files_by_stem(mask_dir, {".png"}).items():
        if stem not in stems:
            raise AnnotationError(f"AnimalKey mask {path}: no frame {stem!r} in {seq_dir}")
        ann.masks[stems[stem]] = read_mask(path, size)
    return ann, boxes


def import_animalkey_annotations(
    seq_dir: str | os.PathLike, anno_dir: str | os.PathLike | None, n_frames: int, frame_size: tuple[int, int],
    heldout_every: int = 2, offset: int = 1, keypoint_set: str = "animalkey30",
    keypoint_names: Sequence[str] | None = None, masks: str = "gt", drop_out_of_range: bool = False,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The "annotations" artifact's (datasets, attrs) of an AnimalKey sequence (sheet format
    ``animalkey``); the counterpart of :func:`smal4v.data.badja.import_badja_annotations`.
    ``drop_out_of_range``: ignore annotations beyond ``n_frames`` (frames.max_frames)."""
    ann, _ = read_animalkey_sequence(seq_dir, anno_dir, keypoint_set, masks)
    return annotations_to_artifact(ann, n_frames, frame_size, heldout_every, offset, keypoint_set, keypoint_names,
                                   source=str(seq_dir), drop_out_of_range=drop_out_of_range)


def sequence_number(name: str) -> int | None:
    """NNN of a ``seqNNN`` / ``seqNNN_test`` folder name, else None."""
    match = _SEQUENCE.match(name)
    return int(match.group(1)) if match else None


def animalkey_sheet_rows(sequences_dir: str | os.PathLike, test_sequences: Collection[int] = TEST_SEQUENCES) -> list[SequenceRow]:
    """Sheet rows (format ``animalkey``) for every ``seqNNN[_test]`` folder of a ``_sequences``
    directory, in number order: ``test`` for the test sequences, ``train`` for the others."""
    sequences_dir = Path(sequences_dir)
    if not sequences_dir.is_dir():
        raise AnnotationError(f"AnimalKey sequences folder {sequences_dir}: not found")
    folders = sorted((p for p in sequences_dir.iterdir() if p.is_dir() and sequence_number(p.name) is not None),
                     key=lambda p: (sequence_number(p.name), p.name))
    if not folders:
        raise AnnotationError(f"AnimalKey sequences folder {sequences_dir}: no seqNNN[_test] folders")
    return [SequenceRow(p.name, "animalkey", str(p), str(p / "anno"),
                        "test" if sequence_number(p.name) in set(test_sequences) else "train") for p in folders]


def write_animalkey_sheet(sequences_dir: str | os.PathLike, out: str | os.PathLike,
                          generic_sheet: str | os.PathLike | None = None, test_file: str | os.PathLike | None = None) -> Path:
    """A sequence sheet of every AnimalKey sequence (:func:`animalkey_sheet_rows`), after the
    ``generic`` rows of ``generic_sheet`` (the synthetic base-network clips), written to ``out``."""
    rows = [vars(r) for r in animalkey_sheet_rows(sequences_dir, read_test_sequences(test_file))]
    if generic_sheet is not None:
        generic = load_sequence_sheet(generic_sheet, "{results}")
        rows = [vars(r) for r in generic.values() if r.split == "generic"] + rows
    out = Path(out)
    pd.DataFrame(rows, columns=[*REQUIRED_COLUMNS, "ground_truth"]).to_csv(out, sep="\t", index=False)
    return out


def read_test_sequences(path: str | os.PathLike | None) -> set[int]:
    """Test sequence numbers from a text file (whitespace/comma separated), or the thesis's 16."""
    return set(TEST_SEQUENCES) if path is None else read_id_list(path, "AnimalKey test-sequence list")


def _image_record(image: Path, kp_path: Path, mask_path: Path, box: np.ndarray | None) -> ImageRecord:
    """One AnimalKey image with its keypoint pickle (required) and mask PNG (if it exists)."""
    if not kp_path.is_file():
        raise AnnotationError(f"AnimalKey keypoints {kp_path}: file not found (for image {image.name})")
    mask = (lambda: read_mask(mask_path)) if mask_path.is_file() else None  # read when cropped
    return ImageRecord(image.name, image, read_keypoint_pickle(kp_path), box, mask)


def read_animalkey_frames(frames_dir: str | os.PathLike, split: str, test_file: str | os.PathLike | None = None) -> list[ImageRecord]:
    """The images of the single-frame layout in one split (``test``: the test sequences, ``train``:
    the others), by name. The box comes from the mask where there is one (as the thesis's
    loader overwrites ``bboxes.json``), else from ``bboxes.json``."""
    frames_dir = Path(frames_dir)
    img_dir = frames_dir / "img"
    if not img_dir.is_dir():
        raise AnnotationError(f"AnimalKey frames {frames_dir}: no img/ folder")
    test = read_test_sequences(test_file)
    images = sorted(p for p in img_dir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    bboxes_path = frames_dir / "bboxes.json"
    boxes = read_bboxes(bboxes_path, [p.name for p in images]) if bboxes_path.is_file() else None
    records = []
    for i, path in enumerate(images):
        match = _FRAME_SEQUENCE.match(path.name)
        if match is None:
            raise AnnotationError(f"AnimalKey frame {path}: name must start with seqNNN_")
        if (int(match.group(1)) in test) != (split == "test"):
            continue
        stem = path.name.split(".", 1)[0]
        mask_path = frames_dir / "mask" / f"{stem}.png"
        box = None if mask_path.is_file() or boxes is None else boxes[i]  # the mask's box where there is one
        records.append(_image_record(path, frames_dir / "kp" / f"{stem}.pkl", mask_path, box))
    if not records:
        raise AnnotationError(f"AnimalKey frames {frames_dir}: no image in split {split!r}")
    return records


def read_animalkey_test_set(folder: str | os.PathLike) -> list[ImageRecord]:
    """The thesis's evaluation set ``cows_test_set/``: ``<name>.jpg``, ``annotations/<name>.pkl``
    (30 x 3), optional ``masks/<name>.png`` and ``bboxes.json`` (every image; the crop box, as the
    thesis's evaluation uses it)."""
    folder = Path(folder)
    images = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS) if folder.is_dir() else []
    if not images:
        raise AnnotationError(f"AnimalKey test set {folder}: no images")
    boxes = read_bboxes(folder / "bboxes.json", [p.name for p in images])
    records = []
    for path, box in zip(images, boxes):
        stem = path.name.split(".", 1)[0]
        records.append(_image_record(path, folder / "annotations" / f"{stem}.pkl", folder / "masks" / f"{stem}.png", box))
    return records
