"""The ``evaluate`` stage: score every variant's predictions of one sequence.

Keypoint metrics use the held-out annotated frames (``split=heldout``; training never saw
them) and, for reference, the training frames (``split=train``). Where the ground truth has
keypoints on every frame (synthetic data), they are also scored on every frame whose keypoints
training did not see (``split=unseen``): a few held-out annotated frames make a noisy PCK.
Silhouette IoU is reported on every frame (``split=all``) and on the frames whose masks the
method was not given (``split=unseen``, as densification is scored); temporal jitter, the
acceleration error against dense truth and 3D errors use every frame (``split=all``). The
training keypoints interpolated in 2D are scored beside the variants (variant
``keypoints_interpolated``, keypoint metrics, jitter and acceleration error only): the
reference a method trained on sparse keypoints must beat between them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from smal4v.data.annotations import SPLIT_HELDOUT, SPLIT_TRAIN
from smal4v.data.artifacts import read_artifact
from smal4v.data.keypoint_interpolation import interpolate_training_keypoints
from smal4v.evaluate import metrics

SPLIT_CODES = {"train": SPLIT_TRAIN, "heldout": SPLIT_HELDOUT}
REFERENCE_VARIANT = "keypoints_interpolated"
"""The training keypoints joined by straight lines in time, scored beside the variants."""


def _keypoint_rows(pred_kp: np.ndarray, gt_kp: np.ndarray, splits: Mapping[str, np.ndarray], gt: dict,
                   alphas: Sequence[float], parts: Mapping[str, Sequence[int]],
                   swap_pairs: Sequence[tuple[int, int]]) -> list[tuple[str, float, str]]:
    """PCK normalised by sqrt(GT area) and by GT box size, per split (boolean frame selections
    of ``gt_kp``), overall and per part."""
    has_mask = gt["has_mask"]
    norms = {
        "sqrt_area": metrics.mask_area_norm(gt["masks"], has_mask),
        "bbox": metrics.bbox_norm(metrics.gt_boxes(gt_kp, gt["masks"], has_mask)),
    }
    rows = []
    for split, frames in splits.items():
        if not frames.any():
            continue
        for norm_name, norm in norms.items():
            scores = metrics.pck(pred_kp, gt_kp, norm, alphas, parts, swap_pairs, frames)
            for name, value in scores.items():
                alpha_part = name.split("@", 1)[1]
                alpha, _, part = alpha_part.partition("_")
                metric = f"pck@{alpha}_{norm_name}" + (f"_{part}" if part else "")
                rows.append((metric, value, split))
    return rows


def evaluate_sequence(
    sequence: str,
    predictions: Mapping[str, str | Path],
    annotations_path: str | Path,
    ground_truth_path: str | Path,
    alphas: Sequence[float] = metrics.DEFAULT_ALPHAS,
    parts: Mapping[str, Sequence[int]] | None = None,
    swap_pairs: Sequence[tuple[int, int]] = (),
) -> pd.DataFrame:
    """Tidy metrics table (sequence, variant, metric, value, split) of one sequence."""
    ann = read_artifact(annotations_path, "annotations")
    gt = read_artifact(ground_truth_path, "ground_truth")
    splits = {name: ann["keypoint_split"] == code for name, code in SPLIT_CODES.items()}

    def keypoint_rows(keypoints_2d: np.ndarray) -> list[tuple[str, float, str]]:
        rows = _keypoint_rows(keypoints_2d, ann["keypoints"], splits, gt, alphas, parts or {}, swap_pairs)
        rows.append(("jitter", metrics.keypoint_jitter(keypoints_2d), "all"))
        if "keypoints" in gt and gt["keypoints"][..., 2].any():
            # dense truth (synthetic): every frame whose keypoints training did not see, and the motion
            unseen = {"unseen": ann["keypoint_split"] != SPLIT_TRAIN}
            rows += _keypoint_rows(keypoints_2d, gt["keypoints"], unseen, gt, alphas, parts or {}, swap_pairs)
            rows.append(("accel_error", metrics.acceleration_error(keypoints_2d, gt["keypoints"]), "all"))
        return rows

    records = []
    for variant, path in predictions.items():
        pred = read_artifact(path, "predictions")
        if pred["keypoints_2d"].shape != ann["keypoints"][..., :2].shape:
            raise ValueError(f"{path}: keypoints_2d {pred['keypoints_2d'].shape} does not match "
                             f"{annotations_path} keypoints {ann['keypoints'].shape}")
        rows = keypoint_rows(pred["keypoints_2d"])
        if "silhouettes" in pred and gt["has_mask"].any():
            rows.append(("iou", metrics.mean_iou(pred["silhouettes"], gt["masks"], gt["has_mask"]), "all"))
            not_given = gt["has_mask"] & ~ann["masks_given"]
            if not_given.any():
                rows.append(("iou", metrics.mean_iou(pred["silhouettes"], gt["masks"], not_given), "unseen"))
        if "vertices" in gt and "vertices" in pred and gt["vertices"].shape == pred["vertices"].shape:
            rows.append(("pa_mpvpe", metrics.procrustes_error(pred["vertices"], gt["vertices"]), "all"))
            rows.append(("mpvpe", metrics.vertex_error(pred["vertices"], gt["vertices"]), "all"))
            rows.append(("mpvpe_camera", metrics.vertex_error(pred["vertices"], gt["vertices"], centre=False), "all"))
        if "pose" in gt and gt["pose"].shape == pred["pose"].shape:
            rows.append(("joint_angle_error_deg", metrics.joint_angle_error(pred["pose"], gt["pose"]), "all"))
        records += [dict(sequence=sequence, variant=variant, metric=m, value=float(v), split=s) for m, v, s in rows]
    train = splits["train"] & (ann["keypoints"][..., 2] > 0).any(-1)
    if train.any():
        reference = interpolate_training_keypoints(ann["keypoints"], train)
        rows = keypoint_rows(reference)
        records += [dict(sequence=sequence, variant=REFERENCE_VARIANT, metric=m, value=float(v), split=s) for m, v, s in rows]
    return pd.DataFrame.from_records(records, columns=["sequence", "variant", "metric", "value", "split"])
