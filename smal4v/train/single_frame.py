"""Training and inference of the single-frame network (stages ``base`` and ``parent``).

One function for both: ``base`` sets the 3D-supervision weights (betas, pose, trans, focal,
vertices) > 0 on synthetic data with ground truth; ``parent`` fine-tunes from the base
checkpoint (``init_checkpoint``) with keypoints + silhouettes + priors only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from smal4v.model.rotations import axis_angle_to_matrix
from smal4v.nets.encoder import crops_to_tensor
from smal4v.nets.heads import SMALHeads, view_bin_of
from smal4v.nets.keypoint_head import DetectedKeypoints
from smal4v.nets.params import SMALParams
from smal4v.nets.single_frame import SingleFrameNet, build_single_frame_net
from smal4v.train.config import AugmentConfig, NetConfig, SingleFrameTrainConfig
from smal4v.train.datasets import Batch, FrameDataset
from smal4v.train.loop import (fit, load_checkpoint, load_model_weights, progress, seed_everything, select_device,
                               set_train_mode)
from smal4v.train.losses import (detection_losses, keypoint_loss, parameter_losses, silhouette_loss, vertex_loss,
                                 weighted_total)
from smal4v.train.mirror import Mirror
from smal4v.train.scene import Priors, Scene
from smal4v.train.schedule import descend, learning_rate_factor, set_learning_rate

GT_3D_TERMS = ("betas", "pose", "root_pose", "pose_matrix", "root_matrix", "view", "trans", "focal", "limb_scale", "vertices")


def augment(batch: Batch, cfg: AugmentConfig, gen: torch.Generator, mirror: Mirror | None = None) -> Batch:
    """Colour gain per channel, zoom about the crop centre and horizontal flip (keypoints, masks
    and the 3D truth follow).

    Zooming by s about the principal point equals multiplying the focal length by s, so the
    ground-truth focal is scaled and the 3D parameters stay valid; a flip mirrors the pose
    (:class:`~smal4v.train.mirror.Mirror`, needed when ``cfg.flip > 0``).
    """
    images, kp, masks, gt = batch.images, batch.keypoints, batch.masks, batch.gt
    B, S = images.shape[0], images.shape[-1]
    if cfg.color_gain > 0:
        gain = 1.0 + (torch.rand(B, 3, 1, 1, generator=gen) * 2 - 1) * cfg.color_gain
        images = (images * gain.to(images)).clamp(0, 1)
    if cfg.scale_jitter > 0:
        s = 1.0 + (torch.rand(B, generator=gen) * 2 - 1) * cfg.scale_jitter
        theta = torch.zeros(B, 2, 3)
        theta[:, 0, 0] = theta[:, 1, 1] = 1.0 / s
        grid = F.affine_grid(theta.to(images), [B, 3, S, S], align_corners=False)
        images = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        s_ = s.to(images)
        if masks is not None:
            masks = F.grid_sample(masks[:, None], grid, mode="bilinear", align_corners=False)[:, 0]
        if kp is not None:
            xy = (kp[..., :2] - S / 2.0) * s_[:, None, None] + S / 2.0
            vis = kp[..., 2] * ((xy >= 0) & (xy <= S)).all(-1).to(kp)
            kp = torch.cat((xy, vis[..., None]), -1)
        if gt is not None and "focal" in gt:
            gt = {**gt, "focal": gt["focal"] * s_}
    out = batch.with_fields(images=images, keypoints=kp, masks=masks, gt=gt)
    if cfg.flip > 0:
        if mirror is None:
            raise ValueError("augment: flip > 0 needs a Mirror")
        out = mirror(out, torch.rand(B, generator=gen) < cfg.flip)
    return out


def batch_losses(
    net: SingleFrameNet, scene: Scene, priors: Priors, batch: Batch, cfg: SingleFrameTrainConfig
) -> tuple[torch.Tensor, dict[str, float]]:
    """Forward one batch and return (weighted total, logged weighted terms)."""
    w = cfg.weights
    has_gt = batch.gt is not None and any(w.get(k, 0) > 0 for k in GT_3D_TERMS)
    params, view_term, detected = _predict(net, batch, has_gt)
    need_sil = w.get("silhouette", 0) > 0 and batch.masks is not None
    sc = scene(params, silhouette=need_sil)
    terms: dict[str, torch.Tensor] = {}
    if batch.keypoints is not None:
        terms["keypoints"] = keypoint_loss(sc.keypoints, batch.keypoints, scene.image_size, cfg.loss.keypoint_loss)
    if detected is not None and batch.keypoints is not None:
        terms.update(detection_losses(detected, batch.keypoints, scene.image_size, cfg.loss.keypoint_loss,
                                      batch.masks, batch.mask_valid, cfg.loss.heatmap_sigma))
    if need_sil:
        terms["silhouette"] = silhouette_loss(
            sc.silhouette, scene.resize_masks(batch.masks), batch.mask_valid,  # type: ignore[arg-type]
            cfg.loss.silhouette_loss, cfg.loss.tversky_alpha, cfg.loss.tversky_beta,
        )
    if view_term is not None:
        terms["view"] = view_term
    if has_gt:
        gt = SMALParams(**{k: batch.gt.get(k) for k in ("betas", "pose", "trans", "focal", "limb_scale")})  # type: ignore[arg-type]
        terms.update(parameter_losses(params, gt, batch.gt_valid))
        if w.get("vertices", 0) > 0:
            with torch.no_grad():
                gt_v = scene.model(gt.betas, gt.pose, gt.trans, gt.limb_scale).vertices
            terms["vertices"] = vertex_loss(sc.vertices, gt_v, batch.gt_valid)
    terms.update(priors(params))
    return weighted_total(terms, w)


def _predict(net: SingleFrameNet, batch: Batch, with_truth: bool) -> tuple[SMALParams, torch.Tensor | None,
                                                                           DetectedKeypoints | None]:
    """The batch's predictions; for heads with view bins and a batch with 3D truth, the view-bin
    loss (the true bin then decides the root rotation: teacher forcing); the keypoint head's
    detections if the network has one."""
    view_bins = with_truth and net.heads.view_bins > 0
    if net.keypoint_head is None and not view_bins:
        return net(batch.images), None, None
    out = net.encoder.forward_features(batch.images)
    detected = None if net.keypoint_head is None else net.keypoint_head(out.maps, batch.images.shape[-1])
    if not view_bins:
        return net.heads(out.feature), None, detected
    raw = net.heads.raw(out.feature)
    view = view_bin_loss(net.heads, raw, batch)
    return net.heads.decode(raw), view, detected


def view_bin_loss(heads: SMALHeads, raw: dict[str, torch.Tensor | None], batch: Batch) -> torch.Tensor:
    """Cross-entropy of the true azimuth bin on the rows with 3D truth; sets ``raw["view_bin"]``
    to the true bin there (teacher forcing: the 6D residual learns the offset from the bin the
    animal is really in, not from the classifier's current guess) and to the arg-max elsewhere."""
    logits = raw["view_logits"]
    assert logits is not None and batch.gt is not None
    true_bin = view_bin_of(axis_angle_to_matrix(batch.gt["pose"][:, 0]), heads.view_bins)
    valid = torch.ones(len(true_bin), device=logits.device) if batch.gt_valid is None else batch.gt_valid.to(logits)
    raw["view_bin"] = torch.where(valid > 0, true_bin, logits.argmax(-1))
    per = F.cross_entropy(logits, true_bin, reduction="none")
    return (per * valid).sum() / valid.sum().clamp_min(1.0)


def train_single_frame(
    net: SingleFrameNet,
    model: nn.Module,
    renderer: Any | None,
    dataset: FrameDataset,
    cfg: SingleFrameTrainConfig | dict[str, Any],
    out_dir: str | Path,
    init_checkpoint: str | Path | None = None,
    keypoint_set: Any | None = None,
) -> list[dict[str, float]]:
    """Train ``net`` on ``dataset``; checkpoints/resume, losses.csv/png in ``out_dir``.

    ``renderer``: a SoftSilhouetteRenderer sized ``cfg.loss.mask_size`` or None (built here).
    ``keypoint_set``: KeypointSet matching the dataset's keypoints (required if it has any).
    ``init_checkpoint``: weights to start from (e.g. the base network for ``parent``); ignored
    when ``out_dir`` already holds a checkpoint to resume. Returns the loss history.
    """
    cfg = cfg if isinstance(cfg, SingleFrameTrainConfig) else SingleFrameTrainConfig.from_dict(cfg, "train")
    if dataset.keypoints is not None and keypoint_set is None:
        raise ValueError("train_single_frame: the dataset has keypoints but no keypoint_set was given")
    if dataset.image_size != net.config.image_size:
        raise ValueError(f"{dataset.name}: crops are {dataset.image_size} px, network expects {net.config.image_size}")
    seed_everything(cfg.seed)
    device = select_device(cfg.device)
    if init_checkpoint is not None:
        load_model_weights(net, init_checkpoint)
    net.to(device)
    model.to(device)
    scene = Scene(model, keypoint_set, dataset.image_size, cfg.loss.mask_size, cfg.loss.silhouette_sigma, renderer)
    priors = Priors(model, net.config.shape_family).to(device)
    mirror = Mirror(model, keypoint_set) if cfg.augment.flip > 0 else None
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=tuple(cfg.adam_betas), weight_decay=cfg.weight_decay)  # type: ignore[arg-type]
    n = len(dataset)
    steps_per_epoch = len(_epoch_batches(np.arange(n), cfg))

    def epoch_fn(epoch: int) -> dict[str, float]:
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
        batches = _epoch_batches(torch.randperm(n, generator=gen).numpy(), cfg)
        set_train_mode(net, cfg.freeze_bn)
        sums: dict[str, float] = {}
        for step, idx in enumerate(progress(batches, cfg.progress, f"epoch {epoch + 1}/{cfg.epochs}")):
            set_learning_rate(opt, learning_rate_factor(epoch * steps_per_epoch + step, cfg.epochs * steps_per_epoch,
                                                        cfg.lr_warmup, cfg.lr_schedule))
            batch = augment(dataset.batch(idx), cfg.augment, gen, mirror).to(device)
            total, logged = batch_losses(net, scene, priors, batch, cfg)
            descend(net, opt, total, cfg.grad_clip)
            for k, v in logged.items():
                sums[k] = sums.get(k, 0.0) + v / len(batches)
        return sums

    extra = {"net_config": net.config.to_dict(), "train_config": cfg.to_dict()}
    return fit(net, opt, cfg.epochs, epoch_fn, out_dir, cfg.checkpoint_every, extra, name="single_frame")


def _epoch_batches(perm: np.ndarray, cfg: SingleFrameTrainConfig) -> list[np.ndarray]:
    """One epoch's batches of row indices in ``perm`` order (a last batch of one row is dropped:
    BatchNorm cannot train on one sample), capped at ``max_steps_per_epoch``."""
    batches = [perm[i : i + cfg.batch_size] for i in range(0, len(perm), cfg.batch_size)]
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches = batches[:-1]
    return batches[: cfg.max_steps_per_epoch] if cfg.max_steps_per_epoch else batches


def load_single_frame_net(path: str | Path, model: nn.Module) -> SingleFrameNet:
    """Rebuild a SingleFrameNet from a checkpoint written by :func:`train_single_frame`."""
    state = load_checkpoint(path)
    if "net_config" not in state:
        raise ValueError(f"checkpoint {path} has no 'net_config'; not written by train_single_frame")
    cfg = NetConfig.from_dict(state["net_config"], f"{path}:net_config")
    cfg.pretrained = None  # weights come from the checkpoint
    net = build_single_frame_net(cfg, model)
    load_model_weights(net, path)
    return net


@torch.no_grad()
def predict_single_frame(
    net: SingleFrameNet, crops: np.ndarray | torch.Tensor, batch_size: int = 32, device: str | torch.device | None = None
) -> SMALParams:
    """Eval-mode predictions for crops (N, S, S, 3) uint8/float -> SMALParams (N,) on CPU."""
    return SMALParams.cat(_in_eval_mode(net, net, crops, batch_size, device))


@torch.no_grad()
def detect_single_frame(
    net: SingleFrameNet, crops: np.ndarray | torch.Tensor, batch_size: int = 32, device: str | torch.device | None = None
) -> tuple[SMALParams, DetectedKeypoints]:
    """As :func:`predict_single_frame`, with the keypoint head's detections (N, K) on CPU."""
    outs = _in_eval_mode(net, net.forward_with_keypoints, crops, batch_size, device)
    return SMALParams.cat([params for params, _ in outs]), DetectedKeypoints.cat([d for _, d in outs])


@torch.no_grad()
def encode_and_detect(net: SingleFrameNet, crops: np.ndarray | torch.Tensor, batch_size: int = 32,
                      device: str | torch.device | None = None) -> tuple[np.ndarray, DetectedKeypoints]:
    """The encoder's features (N, D) float32 and the keypoint head's detections (N, K) on CPU, from
    one eval-mode pass per batch (what ``encode_features`` stores for online training)."""
    outs = _in_eval_mode(net, net.features_with_keypoints, crops, batch_size, device)
    return (torch.cat([f for f, _ in outs]).float().numpy(), DetectedKeypoints.cat([d for _, d in outs]))


def _in_eval_mode(net: SingleFrameNet, forward: Any, crops: np.ndarray | torch.Tensor, batch_size: int,
                  device: str | torch.device | None) -> list[Any]:
    """``forward`` (the network or one of its methods) on batches of crops in eval mode, outputs
    moved to the CPU; restores the network's train/eval mode."""
    device = device or next(net.parameters()).device
    was = net.training
    net.eval()
    outs = []
    try:
        for i in range(0, len(crops), batch_size):
            out = forward(crops_to_tensor(crops[i : i + batch_size]).to(device))
            outs.append(out.to("cpu") if isinstance(out, SMALParams) else tuple(o.to("cpu") for o in out))
    finally:
        net.train(was)
    return outs
