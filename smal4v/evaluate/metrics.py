"""Evaluation metrics: PCK, silhouette IoU, DAVIS J/F, temporal jitter, 3D errors.

Conventions: per-frame scores are NaN when undefined (no visible keypoint, no normaliser) and
sequence scores are ``nanmean`` over frames, so frames with nothing to score are *excluded*
rather than counted as 0 (the reference code averaged them in as 0; METHOD.md 8.11).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from smal4v.data.cropping import bbox_from_keypoints, bbox_from_mask
from smal4v.evaluate.procrustes import procrustes_align

DEFAULT_ALPHAS = (0.05, 0.1, 0.15)


def nanmean(values: np.ndarray) -> float:
    """Mean over finite entries; NaN (without a warning) when there are none."""
    values = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(values)
    return float(values[ok].mean()) if ok.any() else float("nan")


# ----------------------------------------------------------------------------- keypoints


def mask_area_norm(masks: np.ndarray, has_mask: np.ndarray | None = None) -> np.ndarray:
    """Per-frame PCK normaliser sqrt(silhouette area in pixels); NaN for empty/unknown masks."""
    area = np.asarray(masks, dtype=bool).reshape(len(masks), -1).sum(axis=1).astype(np.float64)
    norm = np.sqrt(area)
    norm[area == 0] = np.nan
    if has_mask is not None:
        norm[~np.asarray(has_mask, dtype=bool)] = np.nan
    return norm


def bbox_norm(boxes: np.ndarray) -> np.ndarray:
    """Per-frame PCK normaliser max(w, h) of ``[x, y, w, h]`` boxes (NaN rows stay NaN)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    norm = np.max(boxes[:, 2:4], axis=1)
    norm[~(norm > 0)] = np.nan
    return norm


def gt_boxes(keypoints: np.ndarray, masks: np.ndarray | None = None, has_mask: np.ndarray | None = None) -> np.ndarray:
    """Tight GT boxes ``(N, 4)``: from the mask where known and non-empty, else from the visible
    GT keypoints (no padding; needs 2 visible), else NaN."""
    n = len(keypoints)
    out = np.full((n, 4), np.nan)
    for i in range(n):
        if masks is not None and (has_mask is None or has_mask[i]) and masks[i].any():
            out[i] = bbox_from_mask(masks[i])
        else:
            out[i] = bbox_from_keypoints(keypoints[i], pad=0.0)
    return out


def _resolve_swaps(dist: np.ndarray, pred: np.ndarray, gt: np.ndarray, vis: np.ndarray,
                   swap_pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    """Per frame and pair (i, j), use the prediction assignment with the lower summed error over
    the pair's visible GT points (for interchangeable labels such as BADJA's ears)."""
    dist = dist.copy()
    for i, j in swap_pairs:
        d_ii, d_jj = dist[:, i], dist[:, j]
        d_ij = np.linalg.norm(pred[:, j] - gt[:, i, :2], axis=-1)  # pred j scored against gt i
        d_ji = np.linalg.norm(pred[:, i] - gt[:, j, :2], axis=-1)
        vi, vj = vis[:, i], vis[:, j]
        keep = np.where(vi, d_ii, 0) + np.where(vj, d_jj, 0)
        swap = np.where(vi, d_ij, 0) + np.where(vj, d_ji, 0)
        use = swap < keep
        dist[use, i] = d_ij[use]
        dist[use, j] = d_ji[use]
    return dist


def pck_per_frame(
    pred: np.ndarray,
    gt: np.ndarray,
    norm: np.ndarray,
    alpha: float,
    indices: Sequence[int] | None = None,
    swap_pairs: Sequence[tuple[int, int]] = (),
) -> np.ndarray:
    """Per-frame PCK ``(N,)``: fraction of visible GT keypoints (optionally only ``indices``)
    within ``alpha * norm[n]`` pixels of the prediction; NaN where none is visible or the
    normaliser is NaN. ``pred`` (N, K, 2), ``gt`` (N, K, 3) [x, y, visible]."""
    pred = np.asarray(pred, dtype=np.float64)[..., :2]
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape[:2] != gt.shape[:2]:
        raise ValueError(f"pck: predictions {pred.shape} and ground truth {gt.shape} differ in N or K")
    vis = gt[..., 2] > 0
    dist = np.linalg.norm(pred - gt[..., :2], axis=-1)
    if swap_pairs:
        dist = _resolve_swaps(dist, pred, gt, vis, swap_pairs)
    if indices is not None:
        idx = np.asarray(indices, dtype=int)
        dist, vis = dist[:, idx], vis[:, idx]
    norm = np.asarray(norm, dtype=np.float64)
    hit = dist < alpha * norm[:, None]
    n_vis = vis.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = (hit & vis).sum(axis=1) / n_vis
    score[(n_vis == 0) | ~np.isfinite(norm)] = np.nan
    return score


def pck(
    pred: np.ndarray,
    gt: np.ndarray,
    norm: np.ndarray,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    parts: Mapping[str, Sequence[int]] | None = None,
    swap_pairs: Sequence[tuple[int, int]] = (),
    frames: np.ndarray | None = None,
    prefix: str = "pck",
) -> dict[str, float]:
    """PCK summary: ``{f"{prefix}@{alpha}": mean, f"{prefix}@{alpha}_{part}": ...}``.

    Averages per-frame scores with nanmean (frames with no visible keypoint are excluded).
    ``frames`` is an optional boolean (N,) selection (e.g. held-out keypoint frames).
    """
    if frames is not None:
        sel = np.asarray(frames, dtype=bool)
        pred, gt, norm = np.asarray(pred)[sel], np.asarray(gt)[sel], np.asarray(norm)[sel]
    out: dict[str, float] = {}
    for a in alphas:
        out[f"{prefix}@{a:g}"] = nanmean(pck_per_frame(pred, gt, norm, a, swap_pairs=swap_pairs))
        for part, idx in (parts or {}).items():
            out[f"{prefix}@{a:g}_{part}"] = nanmean(pck_per_frame(pred, gt, norm, a, idx, swap_pairs))
    return out


def keypoint_jitter(keypoints: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Mean norm of the second temporal difference ``x[t+1] - 2 x[t] + x[t-1]`` (px/frame^2)
    over all keypoints and consecutive triplets where all three are valid. ``keypoints``
    (N, K, 2+); ``valid`` (N, K) bool or None (all valid)."""
    kp = np.asarray(keypoints, dtype=np.float64)[..., :2]
    if len(kp) < 3:
        return float("nan")
    acc = np.linalg.norm(kp[2:] - 2 * kp[1:-1] + kp[:-2], axis=-1)
    if valid is not None:
        v = np.asarray(valid, dtype=bool)
        ok = v[2:] & v[1:-1] & v[:-2]
        acc = np.where(ok, acc, np.nan)
    return nanmean(acc)


def acceleration_error(keypoints: np.ndarray, truth: np.ndarray) -> float:
    """Mean norm of the difference between predicted and true second temporal differences
    (px/frame^2; VIBE's "accel error") over the triplets where the truth (N, K, 3) is visible in
    all three frames: jitter alone rewards a frozen animal, this rewards the true motion."""
    kp = np.asarray(keypoints, dtype=np.float64)[..., :2]
    gt = np.asarray(truth, dtype=np.float64)
    if len(kp) < 3:
        return float("nan")

    def second_difference(x: np.ndarray) -> np.ndarray:
        return x[2:] - 2 * x[1:-1] + x[:-2]

    err = np.linalg.norm(second_difference(kp) - second_difference(gt[..., :2]), axis=-1)
    visible = gt[..., 2] > 0
    ok = visible[2:] & visible[1:-1] & visible[:-2]
    return nanmean(np.where(ok, err, np.nan))


# ----------------------------------------------------------------------------- silhouettes


def iou_per_frame(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-frame IoU of boolean masks ``(N, H, W)``; 1 where both are empty (DAVIS J)."""
    pred = np.asarray(pred, dtype=bool).reshape(len(pred), -1)
    gt = np.asarray(gt, dtype=bool).reshape(len(gt), -1)
    inter = (pred & gt).sum(axis=1)
    union = (pred | gt).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = inter / union
    score[union == 0] = 1.0
    return score


def iou_ignoring_padding(pred: np.ndarray, gt: np.ndarray, in_image: np.ndarray) -> np.ndarray:
    """Per-image IoU ``(N,)`` of boolean masks where crop padding (``in_image`` False) counts
    neither way: the GT takes the prediction's value there (WLDO/C2F's protocol, METHOD.md 5)."""
    pred = np.asarray(pred, dtype=bool)
    gt = np.where(np.asarray(in_image, dtype=bool), np.asarray(gt, dtype=bool), pred)
    return iou_per_frame(pred, gt)


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """One-pixel inner boundary of a boolean mask (pixels with a 4-neighbour outside it;
    the image border counts as outside)."""
    m = np.pad(mask.astype(bool), 1)
    inner = m[1:-1, 1:-1] & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    return mask.astype(bool) & ~inner


def boundary_f(pred: np.ndarray, gt: np.ndarray, bound_th: float = 0.008) -> float:
    """DAVIS boundary F-measure of one frame: precision/recall of boundary pixels matched
    within a tolerance of ``bound_th`` (pixels if >= 1, else a fraction of the diagonal)."""
    h, w = gt.shape
    tol = bound_th if bound_th >= 1 else np.ceil(bound_th * np.hypot(h, w))
    bp, bg = boundary_map(pred), boundary_map(gt)
    n_p, n_g = bp.sum(), bg.sum()
    if n_p == 0 and n_g == 0:
        return 1.0
    if n_p == 0 or n_g == 0:
        return 0.0
    r = int(tol)
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    gt_dil = cv2.dilate(bg.astype(np.uint8), disk).astype(bool)
    pred_dil = cv2.dilate(bp.astype(np.uint8), disk).astype(bool)
    precision = (bp & gt_dil).sum() / n_p
    recall = (bg & pred_dil).sum() / n_g
    if precision + recall == 0:
        return 0.0
    return float(2 * precision * recall / (precision + recall))


def silhouette_scores(
    pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None, bound_th: float = 0.008,
    prefix: str = "",
) -> dict[str, float]:
    """Mean J (region IoU), F (boundary) and their mean over frames with ``valid`` GT."""
    pred = np.asarray(pred, dtype=bool)
    gt = np.asarray(gt, dtype=bool)
    if pred.shape != gt.shape:
        raise ValueError(f"silhouette_scores: prediction {pred.shape} and ground truth {gt.shape} differ")
    sel = np.ones(len(gt), dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    if not sel.any():
        return {f"{prefix}J": float("nan"), f"{prefix}F": float("nan"), f"{prefix}JF": float("nan")}
    j = iou_per_frame(pred[sel], gt[sel])
    f = np.array([boundary_f(p, g, bound_th) for p, g in zip(pred[sel], gt[sel])])
    return {f"{prefix}J": nanmean(j), f"{prefix}F": nanmean(f), f"{prefix}JF": (nanmean(j) + nanmean(f)) / 2}


def mean_iou(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Silhouette IoU averaged over frames with ``valid`` GT."""
    sel = np.ones(len(gt), dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    return nanmean(iou_per_frame(np.asarray(pred)[sel], np.asarray(gt)[sel])) if sel.any() else float("nan")


# ----------------------------------------------------------------------------- 3D


def procrustes_error(pred: np.ndarray, gt: np.ndarray, with_scale: bool = True) -> float:
    """Mean point error after per-frame similarity (Umeyama) alignment of ``pred`` onto ``gt``
    (PA-MPVPE for vertices (N, V, 3), PA-MPJPE for joints); in model units."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"procrustes_error: shapes {pred.shape} and {gt.shape} differ")
    errs = [np.linalg.norm(procrustes_align(p, g, with_scale) - g, axis=-1).mean() for p, g in zip(pred, gt)]
    return nanmean(np.array(errs))


def vertex_error(pred: np.ndarray, gt: np.ndarray, centre: bool = True) -> float:
    """Mean vertex error (N, V, 3) without rotation or scale alignment (MPVPE), in model units:
    with ``centre``, after moving each predicted mesh's centroid onto the truth's (a single view
    hardly fixes depth); else in the camera frame as predicted. Shape, pose and size errors all
    count, unlike :func:`procrustes_error`."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"vertex_error: shapes {pred.shape} and {gt.shape} differ")
    if centre:
        pred = pred - pred.mean(1, keepdims=True) + gt.mean(1, keepdims=True)
    return float(np.linalg.norm(pred - gt, axis=-1).mean())


def mpjpe(pred: np.ndarray, gt: np.ndarray, root: int | None = 0) -> float:
    """Mean per-joint position error (N, J, 3) after subtracting the ``root`` joint from both
    (None: no alignment); in model units."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if root is not None:
        pred = pred - pred[:, root : root + 1]
        gt = gt - gt[:, root : root + 1]
    return float(np.linalg.norm(pred - gt, axis=-1).mean())


def joint_angle_error(pred_pose: np.ndarray, gt_pose: np.ndarray, exclude_root: bool = True) -> float:
    """Mean geodesic angle (degrees) between predicted and GT joint rotations, axis-angle
    (N, J, 3); the root (global rotation, joint 0) is excluded by default."""
    p = np.asarray(pred_pose, dtype=np.float64)
    g = np.asarray(gt_pose, dtype=np.float64)
    if p.shape != g.shape:
        raise ValueError(f"joint_angle_error: shapes {p.shape} and {g.shape} differ")
    if exclude_root:
        p, g = p[:, 1:], g[:, 1:]
    rp = Rotation.from_rotvec(p.reshape(-1, 3))
    rg = Rotation.from_rotvec(g.reshape(-1, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        angles = (rp.inv() * rg).magnitude()
    return float(np.degrees(angles).mean())


def turned_root_errors(pred_root: np.ndarray, gt_root: np.ndarray, angles: Sequence[float]) -> list[float]:
    """Mean geodesic angle (degrees) over frames between the true root rotation and the
    predicted one turned by each of ``angles`` (radians about the body's up axis, model z, applied
    after the root as the online view hypotheses are); roots are (N, 3) axis-angle. The smallest
    entry names the view hypothesis nearest the truth."""
    pred = Rotation.from_rotvec(np.asarray(pred_root, dtype=np.float64).reshape(-1, 3))
    gt = Rotation.from_rotvec(np.asarray(gt_root, dtype=np.float64).reshape(-1, 3))
    if len(pred) != len(gt):
        raise ValueError(f"turned_root_errors: {len(pred)} predicted and {len(gt)} true roots")
    return [float(np.degrees(((pred * Rotation.from_rotvec([0.0, 0.0, a])).inv() * gt).magnitude()).mean())
            for a in angles]
