"""Dataset importers: one sheet row -> the ``annotations`` and ``ground_truth`` artifacts.

Every format ends in the same two files, so later stages never see dataset specifics:
``annotations.h5`` holds only what methods may use (sparse keypoints with a train/held-out
split, the masks given to densification); ``ground_truth.h5`` holds what scoring may use.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from smal4v.data import artifacts
from smal4v.data.animalkey import import_animalkey_annotations
from smal4v.data.annotations import import_annotations
from smal4v.data.badja import import_badja_annotations
from smal4v.data.video import probe_video

GROUND_TRUTH_3D = ("vertices", "joints", "betas", "pose", "trans", "focal")


def thin_given_masks(masks_given: np.ndarray, every: int) -> np.ndarray:
    """Keep only every ``every``-th given mask (in frame order); the rest stay scoring-only."""
    given = np.asarray(masks_given, dtype=bool).copy()
    if every > 1:
        idx = np.flatnonzero(given)
        given[idx[np.arange(len(idx)) % every != 0]] = False
    return given


def ground_truth_from_annotations(ann: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Ground truth of a dataset without its own: every annotated mask and keypoint."""
    return {"masks": ann["masks"], "has_mask": ann["masks"].reshape(len(ann["masks"]), -1).any(1),
            "keypoints": ann["keypoints"]}


def import_sequence(row: Mapping[str, str], annotations_out: str | Path, ground_truth_out: str | Path,
                    cfg: Mapping[str, Any], keypoint_set: str, keypoint_names: list[str],
                    created_by: str = "import_annotations") -> None:
    """Write both artifacts of one sequence (``row``: a sheet row as a dict)."""
    fmt = row["format"]
    if fmt not in ("synthetic", "smal4v", "badja", "animalkey"):
        raise ValueError(f"sequence {row['name']}: format {fmt!r} has no importer yet")
    n_frames, frame_size, _ = probe_video(row["source"], cfg.get("max_frames"))
    split = (cfg.get("heldout_every", 2), cfg.get("heldout_offset", 1), keypoint_set, keypoint_names)
    if fmt == "badja":
        datasets, attrs = import_badja_annotations(
            row["annotations"], row["source"], n_frames, frame_size, *split, masks=cfg.get("davis_masks", "auto"),
            full_size=cfg.get("full_resolution_size"), max_frames=cfg.get("max_frames"))
    elif fmt == "animalkey":
        datasets, attrs = import_animalkey_annotations(row["source"], row["annotations"] or None, n_frames, frame_size,
                                                       *split, masks=cfg.get("animalkey_masks", "gt"),
                                                       drop_out_of_range=cfg.get("max_frames") is not None)
    else:
        datasets, attrs = import_annotations(row["annotations"], n_frames, frame_size, *split,
                                             drop_out_of_range=cfg.get("max_frames") is not None)
    ground_truth = ground_truth_from_annotations(datasets)
    gt_attrs: dict[str, Any] = {"keypoint_names": attrs["keypoint_names"]}
    if row.get("ground_truth"):
        given_gt = artifacts.read_artifact(row["ground_truth"], "ground_truth")
        gt_attrs.update({k: v for k, v in given_gt.pop("attrs").items() if k in ("family", "keypoint_names")})
        # per-frame datasets cut to the frames used; the per-animal off-model offsets (V, 3) kept whole
        ground_truth = {k: v if k == "delta_v" else v[:n_frames] for k, v in given_gt.items()}
    datasets["masks_given"] = thin_given_masks(datasets["masks_given"], int(cfg.get("mask_every", 1)))
    datasets["masks"] = datasets["masks"] & datasets["masks_given"][:, None, None]
    artifacts.write_artifact(annotations_out, "annotations", datasets, attrs, created_by)
    artifacts.write_artifact(ground_truth_out, "ground_truth", ground_truth, gt_attrs, created_by)
