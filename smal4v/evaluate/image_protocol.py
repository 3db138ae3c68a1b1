"""The published single-image protocol of WLDO and C2F (METHOD.md 5) on an ``image_set``.

* only images with a segmentation count (``has_mask``);
* PCK@0.15: a keypoint is a hit when its distance to the GT is below 0.15 * sqrt(GT mask area),
  both in crop pixels; per image the fraction of visible GT keypoints hit (NaN when none is
  visible), averaged over images with nanmean; also per part (legs, tail, ears, face);
* IoU of the rendered silhouette with the GT mask where crop padding is ignored (the GT takes the
  prediction's value there), averaged over images.

Differences from the reference code, on purpose: keypoints are not integer-quantised or shifted
by +1 px (METHOD.md 8.3), padding is the exact out-of-image region instead of "RGB < 1.0"
(which also caught truly white pixels), and the padding colour is black.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from smal4v.data import artifacts
from smal4v.evaluate.metrics import iou_ignoring_padding, mask_area_norm, nanmean, pck
from smal4v.model import load_keypoint_set, load_model
from smal4v.render import Camera, rasterize_hard
from smal4v.train.loop import select_device
from smal4v.train.single_frame import load_single_frame_net, predict_single_frame

PUBLISHED_ALPHA = 0.15
TABLE_COLUMNS = ["image_set", "variant", "metric", "value"]
WIDE_METRICS = ["iou", "pck", "pck_legs", "pck_tail", "pck_ears", "pck_face", "images_scored", "images"]


def image_set_scores(pred_keypoints: np.ndarray, pred_silhouettes: np.ndarray, image_set: Mapping[str, np.ndarray],
                     parts: Mapping[str, Sequence[int]], alpha: float = PUBLISHED_ALPHA) -> dict[str, float]:
    """Published PCK (average and per part) and padding-ignoring IoU over the images with a
    segmentation; ``pred_keypoints`` (N, K, 2) and ``pred_silhouettes`` (N, S, S) in crop pixels."""
    has = np.asarray(image_set["has_mask"], dtype=bool)
    norm = mask_area_norm(image_set["masks"], has)  # NaN (= skipped) without a segmentation
    scores = pck(pred_keypoints, image_set["keypoints"], norm, [alpha], parts, prefix="pck")
    out = {"pck": scores[f"pck@{alpha:g}"], **{f"pck_{p}": scores[f"pck@{alpha:g}_{p}"] for p in parts}}
    iou = iou_ignoring_padding(pred_silhouettes[has], image_set["masks"][has], image_set["in_image"][has])
    out.update(iou=nanmean(iou), images_scored=float(has.sum()), images=float(len(has)))
    return out


def crop_predictions(net: torch.nn.Module, crops: np.ndarray, model: torch.nn.Module, keypoint_set: Any
                     ) -> tuple[Any, Any, np.ndarray, np.ndarray]:
    """A single-frame network's parameters, posed model output, projected keypoints (N, K, 2) and
    hard silhouettes (N, S, S) for crops (N, S, S, 3), all in the crop camera (principal point at
    the centre)."""
    params = predict_single_frame(net, crops).detach()
    size = crops.shape[1]
    with torch.no_grad():
        out = model(params.betas, params.pose, params.trans, params.limb_scale)
        keypoints = Camera(params.focal, size).project(keypoint_set.select(out, model))
        silhouettes = torch.cat([rasterize_hard(out.vertices[i:i + 16], model.faces, Camera(params.focal[i:i + 16], size))
                                 for i in range(0, len(out.vertices), 16)])
    return params, out, keypoints.numpy(), silhouettes.numpy()


def predict_image_set(network_path: str, image_set_path: str, model_spec: str, device: str) -> dict[str, np.ndarray]:
    """A single-frame network's parameters, projected keypoints and hard silhouettes for every
    crop of an image set (the crop camera: principal point at the centre)."""
    model = load_model(model_spec)
    data = artifacts.read_artifact(image_set_path, "image_set", ["crops"])
    kps = load_keypoint_set(data["attrs"]["keypoint_set"])
    net = load_single_frame_net(network_path, model).to(select_device(device))
    params, out, keypoints, silhouettes = crop_predictions(net, data["crops"], model, kps)
    datasets = {k: v for k, v in params.to_numpy().items() if v is not None}
    datasets.update(keypoints_2d=keypoints, silhouettes=silhouettes, vertices=out.vertices.numpy(),
                    joints=out.joints.numpy(), principal=np.full((len(keypoints), 2), data["crops"].shape[1] / 2.0, np.float32))
    return datasets


def evaluate_image_set(network_path: str, image_set_path: str, name: str, variant: str, model_spec: str, device: str,
                       out_predictions: str, out_metrics: str, alpha: float = PUBLISHED_ALPHA, created_by: str = "") -> pd.DataFrame:
    """Predict an image set with one network, write its ``predictions`` artifact (in crop pixels)
    and its tidy metrics table (image_set, variant, metric, value)."""
    preds = predict_image_set(network_path, image_set_path, model_spec, device)
    data = artifacts.read_artifact(image_set_path, "image_set", ["keypoints", "masks", "has_mask", "in_image"])
    kps = load_keypoint_set(data["attrs"]["keypoint_set"])
    artifacts.write_artifact(out_predictions, "predictions", preds, {"variant": variant, "keypoint_names": kps.names}, created_by)
    scores = image_set_scores(preds["keypoints_2d"], preds["silhouettes"], data, kps.parts, alpha)
    table = pd.DataFrame([{"image_set": name, "variant": variant, "metric": k, "value": v} for k, v in scores.items()],
                         columns=TABLE_COLUMNS)
    table.to_csv(out_metrics, index=False)
    return table


def aggregate_image_metrics(paths: Sequence[str | Path], table_out: str | Path, wide_out: str | Path) -> pd.DataFrame:
    """All image sets' tables -> one tidy CSV and a markdown table shaped like WLDO's README
    (one row per image set and variant: IoU, PCK@0.15 average, legs, tail, ears, face)."""
    if not paths:
        raise ValueError("no image-set metric tables to aggregate")
    tidy = pd.concat([pd.read_csv(p)[TABLE_COLUMNS] for p in paths], ignore_index=True)
    tidy.to_csv(table_out, index=False)
    wide = tidy.pivot_table(index=["image_set", "variant"], columns="metric", values="value", sort=False)
    wide = wide[[c for c in WIDE_METRICS if c in wide.columns]].reset_index()
    lines = ["| " + " | ".join(wide.columns) + " |", "|" + " --- |" * len(wide.columns)]
    for row in wide.itertuples(index=False):
        lines.append("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) and not v.is_integer() else
                                       (f"{int(v)}" if isinstance(v, float) else str(v)) for v in row) + " |")
    Path(wide_out).write_text("\n".join(lines) + "\n")
    return wide
