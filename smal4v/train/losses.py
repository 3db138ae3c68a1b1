"""Loss terms of the single-frame and online stages; each returns an (unweighted) scalar.

Units are chosen so the default weights transfer across crop sizes: keypoint errors are in
crop pixels divided by the crop size; silhouettes are per-pixel means (not pixel sums, cf.
METHOD.md 8.5) or a Tversky index per image; temporal terms use the same normalisations.
:func:`weighted_total` combines a dict of terms with the config weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from smal4v.nets.keypoint_head import DetectedKeypoints
from smal4v.nets.params import SMALParams
from smal4v.model.rotations import axis_angle_to_matrix, geodesic_angle


def keypoint_loss(pred: torch.Tensor, target: torch.Tensor, image_size: float, kind: str = "l1") -> torch.Tensor:
    """pred (..., K, 2) px, target (..., K, 3) [x, y, visibility weight] px.

    Per keypoint error on coordinates divided by ``image_size``: L1 = |dx| + |dy|, MSE = dx^2 + dy^2;
    averaged over visible keypoints only (sum of vis * err / sum of vis); 0 if none is visible.
    """
    vis = target[..., 2]
    diff = (pred - target[..., :2]) / float(image_size)
    if kind == "l1":
        err = diff.abs().sum(-1)
    elif kind == "mse":
        err = (diff * diff).sum(-1)
    else:
        raise ValueError(f"unknown keypoint loss {kind!r}; use 'l1' or 'mse'")
    return (err * vis).sum() / vis.sum().clamp_min(1.0)


def heatmap_loss(logits: torch.Tensor, target: torch.Tensor, image_size: float, sigma: float) -> torch.Tensor:
    """KL divergence from a Gaussian of ``sigma`` cells at each target keypoint to the heatmap's
    spatial softmax, averaged over the visible keypoints inside the crop; 0 if there are none.

    ``logits`` (B, K, h, w) on a grid over the ``image_size`` crop, ``target`` (B, K, 3) px. The
    soft-argmax read-out alone says nothing about the map's shape, so a map can put its mass on
    two legs and read out between them; this term asks for one peak at the keypoint (integral
    regression with a heatmap term, as Sun et al. 2018 combine them)."""
    b, k, height, width = logits.shape
    cx = (target[..., 0] * (width / float(image_size)) - 0.5)[..., None, None]  # (B, K, 1, 1) in cells
    cy = (target[..., 1] * (height / float(image_size)) - 0.5)[..., None, None]
    xs = torch.arange(width, dtype=logits.dtype, device=logits.device)
    ys = torch.arange(height, dtype=logits.dtype, device=logits.device)[:, None]
    log_t = (-((xs - cx) ** 2 + (ys - cy) ** 2) / (2.0 * sigma**2)).flatten(2).log_softmax(-1)
    per = (log_t.exp() * (log_t - logits.flatten(2).log_softmax(-1))).sum(-1)  # (B, K)
    inside = (target[..., 0] >= 0) & (target[..., 0] <= image_size) & (target[..., 1] >= 0) & (target[..., 1] <= image_size)
    vis = target[..., 2] * inside.to(target)
    return (per * vis).sum() / vis.sum().clamp_min(1.0)


def detection_losses(detected: DetectedKeypoints, target: torch.Tensor, image_size: float, kind: str = "l1",
                     masks: torch.Tensor | None = None, mask_valid: torch.Tensor | None = None,
                     heatmap_sigma: float = 1.0) -> dict[str, torch.Tensor]:
    """The keypoint head's terms against (B, K, 3) targets: ``detected_keypoints`` (as
    :func:`keypoint_loss`, on the visible keypoints) and ``keypoint_visibility`` (binary
    cross-entropy of its visibility logits against visible > 0); with the heatmaps (training
    mode), ``detected_heatmaps`` (:func:`heatmap_loss`); with a silhouette map and
    ``masks`` (B, S, S), ``detected_silhouette`` (binary cross-entropy against the masks
    averaged over each grid cell, images weighted by ``mask_valid``)."""
    seen = (target[..., 2] > 0).to(detected.visibility_logits)
    terms = {"detected_keypoints": keypoint_loss(detected.xy, target, image_size, kind),
             "keypoint_visibility": F.binary_cross_entropy_with_logits(detected.visibility_logits, seen)}
    if detected.heatmap_logits is not None:
        terms["detected_heatmaps"] = heatmap_loss(detected.heatmap_logits, target, image_size, heatmap_sigma)
    logits = detected.silhouette_logits
    if logits is not None and masks is not None:
        cells = F.adaptive_avg_pool2d(masks[:, None].to(logits), logits.shape[-2:])[:, 0]
        per = F.binary_cross_entropy_with_logits(logits, cells, reduction="none").flatten(1).mean(1)
        valid = torch.ones_like(per) if mask_valid is None else mask_valid.to(per)
        terms["detected_silhouette"] = (per * valid).sum() / valid.sum().clamp_min(1.0)
    return terms


def silhouette_loss(
    pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None, kind: str = "l1",
    alpha: float = 0.6, beta: float = 0.4, eps: float = 1e-5,
) -> torch.Tensor:
    """pred, target (B, H, W) in [0, 1]; valid (B,) weights (0 = no mask for this image).

    ``l1``: mean absolute difference per image; ``tversky``: 1 - (TP + eps) / (TP + alpha FP +
    beta FN + eps) per image (C2F's alpha 0.6 / beta 0.4 penalise false positives more). Images
    are averaged with ``valid`` weights (C2F summed over the batch instead).
    """
    if kind == "l1":
        per = (pred - target).abs().flatten(1).mean(1)
    elif kind == "tversky":
        p, t = pred.flatten(1), target.flatten(1)
        tp = (p * t).sum(1)
        fp = (p * (1 - t)).sum(1)
        fn = ((1 - p) * t).sum(1)
        per = 1.0 - (tp + eps) / (tp + alpha * fp + beta * fn + eps)
    else:
        raise ValueError(f"unknown silhouette loss {kind!r}; use 'l1' or 'tversky'")
    if valid is None:
        return per.mean()
    valid = valid.to(per.dtype)
    return (per * valid).sum() / valid.sum().clamp_min(1.0)


def _masked_mean(per: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    if valid is None:
        return per.mean()
    v = valid.to(per.dtype)
    return (per * v).sum() / v.sum().clamp_min(1.0)


def parameter_losses(pred: SMALParams, gt: SMALParams, valid: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """3D supervision (synthetic data) per image, averaged over images with ``valid`` (B,) weights.

    betas: MSE over the common components; pose: mean geodesic angle (radians) over joints;
    root_pose: the geodesic angle of the root (global) rotation alone, which the mean over 35
    joints dilutes to 3% although it decides where every part lands; pose_matrix / root_matrix:
    squared Frobenius (chordal) distance of the rotation matrices, 8 sin^2(angle / 2): smooth
    everywhere, where the geodesic angle's gradient has no direction at 180 degrees, and its
    minimiser under ambiguity is the chordal mean rather than an arbitrary branch; trans: MSE;
    focal: squared log ratio; limb_scale: MSE (only if both present).
    """
    nb = min(pred.betas.shape[-1], gt.betas.shape[-1])
    R_pred, R_gt = axis_angle_to_matrix(pred.pose), axis_angle_to_matrix(gt.pose)
    angles = geodesic_angle(R_pred, R_gt)  # (B, J)
    chordal = ((R_pred - R_gt) ** 2).sum((-1, -2))  # (B, J)
    out = {
        "betas": _masked_mean(((pred.betas[..., :nb] - gt.betas[..., :nb]) ** 2).mean(-1), valid),
        "pose": _masked_mean(angles.mean(-1), valid),
        "root_pose": _masked_mean(angles[..., 0], valid),
        "pose_matrix": _masked_mean(chordal.mean(-1), valid),
        "root_matrix": _masked_mean(chordal[..., 0], valid),
        "trans": _masked_mean(((pred.trans - gt.trans) ** 2).mean(-1), valid),
        "focal": _masked_mean(torch.log(pred.focal / gt.focal) ** 2, valid),
    }
    if pred.limb_scale is not None and gt.limb_scale is not None:
        out["limb_scale"] = _masked_mean(((pred.limb_scale - gt.limb_scale) ** 2).mean(-1), valid)
    return out


def vertex_loss(pred_vertices: torch.Tensor, gt_vertices: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean Euclidean distance between corresponding vertices (B, V, 3), model units."""
    return _masked_mean((pred_vertices - gt_vertices).norm(dim=-1).mean(-1), valid)


def finite_difference(x: torch.Tensor, order: int, dim: int = 1) -> torch.Tensor:
    """First (x[t+1] - x[t]) or second (x[t+1] - 2 x[t] + x[t-1]) differences along ``dim``."""
    if order == 1:
        return x.narrow(dim, 1, x.shape[dim] - 1) - x.narrow(dim, 0, x.shape[dim] - 1)
    if order == 2:
        n = x.shape[dim]
        return x.narrow(dim, 2, n - 2) - 2 * x.narrow(dim, 1, n - 2) + x.narrow(dim, 0, n - 2)
    raise ValueError(f"temporal order must be 1 or 2, got {order}")


def temporal_losses(
    params: SMALParams, keypoints_2d: torch.Tensor | None, image_size: float, order: int = 2
) -> dict[str, torch.Tensor]:
    """Smoothness over windows: params with leading (B, T), keypoints (B, T, K, 2) px.

    temporal_keypoints: mean |diff| / image_size; temporal_pose: mean squared Frobenius norm of
    differences of joint rotation matrices; temporal_camera: mean squared differences of
    translation plus of log focal. Zero when T <= order.
    """
    T = params.focal.shape[1]
    zero = params.focal.new_zeros(())
    if T <= order:
        return {"temporal_keypoints": zero, "temporal_pose": zero, "temporal_camera": zero}
    R = axis_angle_to_matrix(params.pose)  # (B, T, J, 3, 3)
    out = {
        "temporal_pose": (finite_difference(R, order) ** 2).sum((-1, -2)).mean(),
        "temporal_camera": (finite_difference(params.trans, order) ** 2).sum(-1).mean()
        + (finite_difference(torch.log(params.focal), order) ** 2).mean(),
        "temporal_keypoints": zero,
    }
    if keypoints_2d is not None:
        out["temporal_keypoints"] = (finite_difference(keypoints_2d, order).abs().sum(-1) / float(image_size)).mean()
    return out


def weighted_total(terms: dict[str, torch.Tensor], weights: dict[str, float]) -> tuple[torch.Tensor, dict[str, float]]:
    """Sum of weight * term over terms with non-zero weight; also the weighted values as floats."""
    total: torch.Tensor | None = None
    logged: dict[str, float] = {}
    for name, value in terms.items():
        w = float(weights.get(name, 0.0))
        if w == 0.0:
            continue
        part = w * value
        total = part if total is None else total + part
        logged[name] = float(part.detach())
    if total is None:
        raise ValueError(f"every loss term has weight 0 (terms: {sorted(terms)})")
    logged["total"] = float(total.detach())
    return total, logged
