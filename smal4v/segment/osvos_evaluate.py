"""Scoring of densified silhouettes (rule ``evaluate_silhouettes``), for any method.

Per sequence: DAVIS J (mask IoU) mean and F (boundary F-measure) mean against every
ground-truth mask available, counting only frames whose mask was *not* given to the method
(a given frame is copied, so scoring it would flatter every method). The result is a tidy
table with the columns of the project's metrics files (sequence, variant, metric, value,
split), ``variant = "densify_<method>"`` and ``split = "heldout"``, so
``aggregate_metrics`` concatenates it with the network variants' rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from smal4v.data import artifacts
from smal4v.evaluate.metrics import silhouette_scores

COLUMNS = ["sequence", "variant", "metric", "value", "split", "n_frames"]


def silhouette_table(sequence: str, method: str, pred: np.ndarray, gt: np.ndarray, has_gt: np.ndarray,
                     given: np.ndarray, bound_th: float = 0.008) -> pd.DataFrame:
    """Tidy J/F rows of one sequence: frames with ground truth and no given mask.

    NaN values (and ``n_frames`` 0) when no such frame exists.
    """
    pred = np.asarray(pred, dtype=bool)
    gt = np.asarray(gt, dtype=bool)
    if pred.shape != gt.shape:
        raise ValueError(f"sequence {sequence}: silhouettes {pred.shape} and ground truth {gt.shape} differ in shape")
    scored = np.asarray(has_gt, dtype=bool) & ~np.asarray(given, dtype=bool)
    s = silhouette_scores(pred, gt, scored, bound_th)
    n = int(scored.sum())
    return pd.DataFrame(
        [(sequence, f"densify_{method}", m, s[m], "heldout", n) for m in ("J", "F")], columns=COLUMNS
    )


def evaluate_silhouettes(sequence: str, silhouettes_path: str | Path, annotations_path: str | Path,
                         ground_truth_path: str | Path, bound_th: float = 0.008) -> pd.DataFrame:
    """Score ``silhouettes.h5`` against ``ground_truth.h5`` (masks, has_mask) on the frames
    whose mask ``annotations.h5`` did not give; the method name comes from the silhouettes file."""
    sil = artifacts.read_artifact(silhouettes_path, "silhouettes", ["masks"])
    ann = artifacts.read_artifact(annotations_path, "annotations", ["masks_given"])
    gt = artifacts.read_artifact(ground_truth_path, "ground_truth", ["masks", "has_mask"])
    pred, given = sil["masks"], ann["masks_given"]
    if len(pred) != len(given) or pred.shape != gt["masks"].shape:
        raise ValueError(
            f"{silhouettes_path}: silhouettes {pred.shape}, {annotations_path}: {len(given)} frames and "
            f"{ground_truth_path}: ground truth {gt['masks'].shape} do not describe the same frames"
        )
    return silhouette_table(sequence, str(sil["attrs"].get("method", "unknown")), pred, gt["masks"],
                            gt["has_mask"], given, bound_th)
