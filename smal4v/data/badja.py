"""Importer for BADJA keypoints (Biggs et al., ACCV 2018) on DAVIS frame folders.

Layout (see ``docs/REAL_DATA.md``)::

    DAVIS/JPEGImages/<480p|Full-Resolution>/<seq>/00000.jpg ...   # the frames (sheet ``source``)
    DAVIS/Annotations/<480p|Full-Resolution>/<seq>/00000.png ...  # DAVIS masks, 0/255, every frame
    joint_annotations/<seq>.json                                  # BADJA (sheet ``annotations``)

The BADJA json is a list of ``{image_path, segmentation_path, joints (37 x [row, col]),
visibility (37 bools)}``; paths and coordinates are in the *Full-Resolution* DAVIS layout
whatever folder the user has. Entries are matched to the actual frames by sequence name and
frame file stem; coordinates are scaled to the actual frame size and turned from BADJA's
(row, col) pixel indices into the project's (x, y) = (col + 0.5, row + 0.5) pixel-centre
convention. The 37 slots are mapped onto the keypoint set through its ``source_indices``
(``badja20``: the left/right decision is documented in its YAML header). A slot is visible
when BADJA says so and its coordinates are not the ``[0, 0]`` "unannotated" marker.

Every DAVIS mask goes into the :class:`AnnotationSet`; which of them the method is *given*
(every k-th frame) is decided later by ``importers.thin_given_masks`` with the config's
``annotations.mask_every``, while ground truth keeps all of them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from smal4v.data.annotations import AnnotationError, AnnotationSet, annotations_to_artifact
from smal4v.data.video import list_frame_files
from smal4v.model.keypoints import KeypointSet, load_keypoint_set

N_SLOTS = 37
DAVIS_FULL_SIZE = (1920, 1080)
"""(W, H) of DAVIS Full-Resolution frames, used when no Full-Resolution frame is at hand."""
FULL_RES_DIR = "Full-Resolution"


@dataclass(frozen=True)
class BadjaEntry:
    """One annotated frame of a BADJA json: where it points and its raw 37-slot arrays."""

    sequence: str  # folder name of image_path (the DAVIS sequence)
    frame_stem: str  # file stem of image_path, e.g. "00002"
    joints_rc: np.ndarray  # (37, 2) float [row, col], Full-Resolution pixels
    visible: np.ndarray  # (37,) bool


def read_badja_json(path: str | os.PathLike) -> list[BadjaEntry]:
    """Read and validate a BADJA json; errors name the file and the entry."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"BADJA json {path}: file not found")
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AnnotationError(f"BADJA json {path}: not valid JSON: {exc}") from exc
    if not isinstance(doc, list) or not doc:
        raise AnnotationError(f"BADJA json {path}: expected a non-empty list of annotated frames")
    entries = []
    for i, item in enumerate(doc):
        where = f"BADJA json {path}, entry {i}"
        if not isinstance(item, dict) or not {"image_path", "joints", "visibility"} <= set(item):
            raise AnnotationError(f"{where}: needs keys 'image_path', 'joints', 'visibility'")
        joints = _float_array(item["joints"])
        if joints is None or joints.shape != (N_SLOTS, 2) or not np.isfinite(joints).all():
            raise AnnotationError(f"{where}: 'joints' must be {N_SLOTS} finite [row, col] pairs")
        vis = item["visibility"]
        if not isinstance(vis, list) or len(vis) != N_SLOTS or not all(v in (0, 1, True, False) for v in vis):
            raise AnnotationError(f"{where}: 'visibility' must be {N_SLOTS} booleans")
        if not isinstance(item["image_path"], str) or not item["image_path"]:
            raise AnnotationError(f"{where}: 'image_path' must be a non-empty string, got {item['image_path']!r}")
        image = Path(item["image_path"])
        entries.append(BadjaEntry(image.parent.name, image.stem, joints, np.asarray(vis, dtype=bool)))
    return entries


def _float_array(value: object) -> np.ndarray | None:
    """A nested list of numbers as a float array; None for anything else (text, ragged, not a list)."""
    if not isinstance(value, list):
        return None
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def frame_scale(frame_size: tuple[int, int], full_size: tuple[int, int] = DAVIS_FULL_SIZE) -> tuple[float, float]:
    """(sx, sy) from Full-Resolution pixels to the actual frames; both sizes are (W, H).

    DAVIS 480p is the full frame resized (854x480 from 1920x1080), so the aspect ratios must
    agree; a mismatch means ``full_size`` is wrong for this sequence."""
    (w, h), (fw, fh) = frame_size, full_size
    sx, sy = w / fw, h / fh
    if abs(sx / sy - 1.0) > 0.01:
        raise AnnotationError(
            f"frames of {w}x{h} are not a resize of the Full-Resolution size {fw}x{fh} "
            f"(aspect ratios differ); set annotations.full_resolution_size for this sequence"
        )
    return sx, sy


def map_slots(entry: BadjaEntry, source_indices: Sequence[int], scale: tuple[float, float]) -> np.ndarray:
    """(K, 3) [x, y, visible] of one entry on the keypoint set; invisible rows are zero."""
    rows = entry.joints_rc[list(source_indices)]
    vis = entry.visible[list(source_indices)] & (rows != 0).any(axis=1)
    out = np.zeros((len(source_indices), 3), dtype=np.float32)
    out[:, 0] = (rows[:, 1] + 0.5) * scale[0]
    out[:, 1] = (rows[:, 0] + 0.5) * scale[1]
    out[:, 2] = vis
    out[~vis, :2] = 0
    return out


def davis_mask_dir(frames_dir: str | os.PathLike) -> Path:
    """DAVIS mask folder of a frame folder: ``.../JPEGImages/<res>/<seq>`` -> ``.../Annotations/<res>/<seq>``."""
    frames_dir = Path(frames_dir)
    parts = list(frames_dir.parts)
    if "JPEGImages" not in parts:
        raise AnnotationError(
            f"frame folder {frames_dir}: not in a DAVIS layout (no 'JPEGImages' component), so the mask "
            f"folder cannot be derived; set annotations.davis_masks to a folder template or 'none'"
        )
    i = len(parts) - 1 - parts[::-1].index("JPEGImages")
    parts[i] = "Annotations"
    return Path(*parts)


def resolve_mask_dir(setting: str | None, frames_dir: Path, sequence: str) -> Path | None:
    """Mask folder from the config value: "auto" (next to JPEGImages), "none"/None (no masks),
    or a path template where ``{name}`` is the sequence name."""
    if setting is None or str(setting).lower() == "none":
        return None
    if str(setting) == "auto":
        return davis_mask_dir(frames_dir)
    return Path(str(setting).format(name=sequence))


def read_davis_mask(path: Path, size: tuple[int, int]) -> np.ndarray:
    """A DAVIS mask as (H, W) bool: non-zero = animal (0/255 grey, or palette object ids)."""
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise AnnotationError(f"DAVIS mask {path}: cannot be read as an image")
    if mask.ndim == 3:
        mask = mask[..., :3].max(axis=2)
    if (mask.shape[1], mask.shape[0]) != tuple(size):
        raise AnnotationError(
            f"DAVIS mask {path}: size {mask.shape[1]}x{mask.shape[0]} differs from the frame size "
            f"{size[0]}x{size[1]} (masks must come from the same resolution folder as the frames)"
        )
    return mask > 0


def _full_size_from_layout(frames_dir: Path, frame_file: Path) -> tuple[int, int] | None:
    """Size of the Full-Resolution twin of ``frame_file`` if the DAVIS tree has it, else None."""
    twin = frames_dir.parent.parent / FULL_RES_DIR / frames_dir.name / frame_file.name
    if frames_dir.parent.name == FULL_RES_DIR:
        twin = frame_file
    if not twin.is_file():
        return None
    img = cv2.imread(str(twin), cv2.IMREAD_UNCHANGED)
    return None if img is None else (img.shape[1], img.shape[0])


def read_badja_sequence(
    json_path: str | os.PathLike,
    frames_dir: str | os.PathLike,
    keypoint_set: KeypointSet | str = "badja20",
    masks: str | None = "auto",
    full_size: Sequence[int] | None = None,
    max_frames: int | None = None,
    check_sequence: bool = True,
) -> AnnotationSet:
    """Sparse annotations of one BADJA/DAVIS sequence, frame indices = positions in ``frames_dir``.

    ``masks``: see :func:`resolve_mask_dir`. ``full_size``: (W, H) of the Full-Resolution frames
    the json's coordinates refer to; None reads it from the Full-Resolution folder when present,
    else assumes DAVIS's 1920x1080. ``max_frames`` ignores frames (and their annotations) beyond it.
    ``check_sequence``: the json's sequence name must be the frame folder's name.
    """
    json_path, frames_dir = Path(json_path), Path(frames_dir)
    kps = load_keypoint_set(keypoint_set) if isinstance(keypoint_set, (str, Path)) else keypoint_set
    if kps.source_indices is None or not all(0 <= s < N_SLOTS for s in kps.source_indices):
        raise AnnotationError(
            f"keypoint set {kps.name} ({kps.source}): every keypoint needs a BADJA source_index in 0..{N_SLOTS - 1}"
        )
    entries = read_badja_json(json_path)
    all_files = list_frame_files(frames_dir)
    files = all_files if max_frames is None else all_files[:max_frames]
    index = {f.stem: i for i, f in enumerate(files)}
    first = cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED)
    if first is None:
        raise AnnotationError(f"frame {files[0]}: cannot be read as an image")
    size = (first.shape[1], first.shape[0])
    if full_size is None:
        full_size = _full_size_from_layout(frames_dir, files[0]) or DAVIS_FULL_SIZE
    scale = frame_scale(size, (int(full_size[0]), int(full_size[1])))
    set_name = str(keypoint_set) if isinstance(keypoint_set, (str, Path)) else kps.name
    ann = AnnotationSet(set_name, list(kps.names), size)
    stems = {f.stem for f in all_files}
    for i, entry in enumerate(entries):
        if check_sequence and entry.sequence != frames_dir.name:
            raise AnnotationError(
                f"BADJA json {json_path}, entry {i}: refers to sequence {entry.sequence!r} but the frame "
                f"folder is {frames_dir} (name {frames_dir.name!r}); pair each json with its own sequence"
            )
        if entry.frame_stem not in stems:
            raise AnnotationError(
                f"BADJA json {json_path}, entry {i}: frame {entry.frame_stem!r} is not in the frame folder {frames_dir}"
            )
        if entry.frame_stem not in index:
            continue  # beyond max_frames
        pts = map_slots(entry, kps.source_indices, scale)
        vis = pts[:, 2] > 0
        outside = vis & ((pts[:, 0] > size[0]) | (pts[:, 1] > size[1]))
        if outside.any():
            k = int(np.flatnonzero(outside)[0])
            raise AnnotationError(
                f"BADJA json {json_path}, entry {i}: keypoint {kps.names[k]!r} at ({pts[k, 0]:.1f}, {pts[k, 1]:.1f}) "
                f"is outside the {size[0]}x{size[1]} frame; is the Full-Resolution size "
                f"{full_size[0]}x{full_size[1]} right for this sequence?"
            )
        frame = index[entry.frame_stem]
        if frame in ann.keypoints:
            raise AnnotationError(f"BADJA json {json_path}, entry {i}: frame {entry.frame_stem!r} annotated twice")
        ann.keypoints[frame] = pts
    mask_dir = resolve_mask_dir(masks, frames_dir, frames_dir.name)
    if mask_dir is not None:
        if not mask_dir.is_dir():
            raise AnnotationError(
                f"DAVIS mask folder {mask_dir} (for frames {frames_dir}) does not exist; "
                f"set annotations.davis_masks to the right folder or 'none'"
            )
        by_stem = {p.stem: p for p in mask_dir.iterdir() if p.suffix.lower() == ".png"}
        for stem, frame in index.items():
            if stem in by_stem:
                ann.masks[frame] = read_davis_mask(by_stem[stem], size)
    return ann


def import_badja_annotations(
    json_path: str | os.PathLike,
    frames_dir: str | os.PathLike,
    n_frames: int,
    frame_size: tuple[int, int],
    heldout_every: int = 2,
    offset: int = 1,
    keypoint_set: str = "badja20",
    keypoint_names: Sequence[str] | None = None,
    masks: str | None = "auto",
    full_size: Sequence[int] | None = None,
    max_frames: int | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The "annotations" artifact's (datasets, attrs) of a BADJA sequence; the counterpart of
    :func:`smal4v.data.annotations.import_annotations` for ``format: badja`` sheet rows."""
    ann = read_badja_sequence(json_path, frames_dir, keypoint_set, masks, full_size, max_frames)
    return annotations_to_artifact(
        ann, n_frames, frame_size, heldout_every, offset, keypoint_set, keypoint_names,
        source=str(json_path), drop_out_of_range=max_frames is not None,
    )
