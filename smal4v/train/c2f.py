"""Training and inference of the coarse-to-fine network (METHOD.md 3.5, 4).

C2F trains in three stages: (1) the coarse single-frame network (smal4v's ``base``/``parent``);
(2) the GCN alone with the coarse network frozen, keypoint loss on the refined mesh; (3) joint
fine-tuning with keypoints on the coarse and refined meshes, Tversky silhouettes on both, the
Laplacian-coordinate loss against the stop-gradient coarse mesh, the joint-limit hinge, pose
and shape priors; optionally (not C2F's) the offsets against the synthetic rows' true shape
(:func:`canonical_offsets`). :func:`train_c2f_stage` runs stage 2 or 3 as its settings say
(:class:`~smal4v.train.c2f_config.C2FStageConfig`); :func:`predict_c2f` runs the trained net on
crops, :func:`refine_predictions` applies its GCN to another network's per-frame estimate.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d
from torch import nn

from smal4v.model.mesh_hierarchy import MeshHierarchy
from smal4v.nets.coarse_to_fine import CoarseToFineNet
from smal4v.nets.encoder import crops_to_tensor
from smal4v.nets.params import SMALParams
from smal4v.nets.single_frame import build_single_frame_net
from smal4v.train.c2f_config import FUSIONS, C2FStageConfig, GCNConfig
from smal4v.train.c2f_losses import LaplacianLoss
from smal4v.train.config import NetConfig
from smal4v.train.datasets import Batch, FrameDataset
from smal4v.train.loop import fit, load_checkpoint, progress, seed_everything, select_device, set_train_mode
from smal4v.train.losses import keypoint_loss, silhouette_loss, vertex_loss, weighted_total
from smal4v.train.scene import Priors, Scene
from smal4v.train.schedule import descend


class C2FLosses:
    """Every stage-2/3 term of one batch: coarse and refined keypoints and silhouettes, the
    Laplacian term and the priors (only terms with a weight > 0 are computed)."""

    def __init__(self, model: nn.Module, keypoint_set: Any, image_size: int, cfg: C2FStageConfig,
                 shape_family: str | None) -> None:
        self.cfg = cfg
        self.scene = Scene(model, keypoint_set, image_size, cfg.loss.mask_size, cfg.loss.silhouette_sigma)
        self.priors = Priors(model, shape_family)
        self.laplacian = LaplacianLoss(model.faces, int(model.num_vertices))

    def to(self, device: torch.device) -> "C2FLosses":
        self.priors.to(device)
        self.laplacian.to(device)
        return self

    def __call__(self, net: CoarseToFineNet, batch: Batch,
                 estimate: tuple[SMALParams, torch.Tensor | None] | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """(weighted total, logged weighted terms) of one batch; the coarse mesh is the coarse
        network's, or ``estimate`` (another network's parameters of the batch's crops and its
        per-video offsets (V, 3) or None), which the GCN's offsets then add to."""
        w, loss = self.cfg.weights, self.cfg.loss
        on = {k for k, v in w.items() if v > 0}
        base = None
        with torch.set_grad_enabled(not self.cfg.freeze_coarse and torch.is_grad_enabled()):
            if estimate is None:
                params, features = net.encode(batch.images)
            else:
                (params, base), features = estimate, net.coarse.encoder.forward_features(batch.images)
                base = None if base is None else base[None].expand(len(params.focal), -1, -1)
            coarse = self.scene(params, silhouette="silhouette" in on and batch.masks is not None, delta_v=base)
        delta_v = net.offsets(features, coarse.vertices, params.focal)
        refined = self.scene(params, silhouette="silhouette_refined" in on and batch.masks is not None,
                             delta_v=delta_v if base is None else base + delta_v)
        terms: dict[str, torch.Tensor] = {}
        if batch.keypoints is not None:
            terms["keypoints"] = keypoint_loss(coarse.keypoints, batch.keypoints, self.scene.image_size, loss.keypoint_loss)
            terms["keypoints_refined"] = keypoint_loss(refined.keypoints, batch.keypoints, self.scene.image_size,
                                                       loss.keypoint_loss)
        if batch.masks is not None:
            target = self.scene.resize_masks(batch.masks)
            for name, out in (("silhouette", coarse), ("silhouette_refined", refined)):
                if out.silhouette is not None:
                    terms[name] = silhouette_loss(out.silhouette, target, batch.mask_valid, loss.silhouette_loss,
                                                  loss.tversky_alpha, loss.tversky_beta)
        if "laplacian" in on:
            terms["laplacian"] = self.laplacian(refined.vertices, coarse.vertices)
        if "offsets" in on and batch.gt is not None and "delta_v" in batch.gt:
            target = canonical_offsets(self.scene.model, params.betas.detach(), batch.gt["betas"], batch.gt["delta_v"])
            terms["offsets"] = vertex_loss(delta_v, target, batch.gt_valid)
        terms.update(self.priors(params))
        return weighted_total(terms, w)


def canonical_offsets(model: nn.Module, betas: torch.Tensor, true_betas: torch.Tensor,
                      true_offsets: torch.Tensor) -> torch.Tensor:
    """The offsets (B, V, 3) that turn the shaped template of ``betas`` into the true animal's
    (``true_betas`` plus its off-model ``true_offsets``), both unposed, after scaling the true
    one about its centroid to the same RMS size and moving it onto the estimate's centroid: a
    single image fixes the animal's size only together with its depth, so the coarse estimate's
    size (matched by its translation) is kept and the offsets carry the form. Limb scales are
    left out."""
    def rest(b: torch.Tensor, d: torch.Tensor | None = None) -> torch.Tensor:
        return model(b, torch.zeros(len(b), int(model.num_joints), 3, device=b.device), None, None, d).vertices

    with torch.no_grad():
        estimate, truth = rest(betas), rest(true_betas, true_offsets)
        centre_e, centre_t = estimate.mean(1, keepdim=True), truth.mean(1, keepdim=True)
        size = ((estimate - centre_e).square().sum((1, 2)) / (truth - centre_t).square().sum((1, 2))).sqrt()
        return size[:, None, None] * (truth - centre_t) + centre_e - estimate


def _set_modes(net: CoarseToFineNet, cfg: C2FStageConfig) -> None:
    set_train_mode(net, cfg.freeze_bn)
    if cfg.freeze_coarse:
        net.coarse.eval()


def train_c2f_stage(net: CoarseToFineNet, model: nn.Module, dataset: FrameDataset, cfg: C2FStageConfig,
                    out_dir: str | Path, keypoint_set: Any,
                    estimate: tuple[SMALParams, torch.Tensor | None] | None = None) -> list[dict[str, float]]:
    """Train stage 2 (``freeze_coarse``: only the GCN) or 3 (everything) on ``dataset``, or
    (with ``estimate``: another network's parameters of every row (N,) and its per-video
    offsets (V, 3) or None) the GCN on that estimate instead of the coarse network's;
    resumable checkpoints and losses.csv/png in ``out_dir``. Returns the loss history."""
    if dataset.image_size != net.image_size:
        raise ValueError(f"{dataset.name}: crops are {dataset.image_size} px, the network expects {net.image_size}")
    seed_everything(cfg.seed)
    device = select_device(cfg.device)
    net.to(device)
    model.to(device)
    losses = C2FLosses(model, keypoint_set, dataset.image_size, cfg, net.coarse.config.shape_family).to(device)
    for p in net.coarse.parameters():
        p.requires_grad_(not cfg.freeze_coarse)
    trainable = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(trainable, lr=cfg.lr, betas=tuple(cfg.adam_betas))  # type: ignore[arg-type]
    n = len(dataset)
    if estimate is not None:
        estimate = (estimate[0].to(device), None if estimate[1] is None else estimate[1].to(device))

    def epoch_fn(epoch: int) -> dict[str, float]:
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
        perm = torch.randperm(n, generator=gen).numpy()
        batches = [perm[i : i + cfg.batch_size] for i in range(0, n, cfg.batch_size)]
        if len(batches) > 1 and len(batches[-1]) == 1:  # BatchNorm cannot train on one sample
            batches = batches[:-1]
        batches = batches[: cfg.max_steps_per_epoch] if cfg.max_steps_per_epoch else batches
        _set_modes(net, cfg)
        sums: dict[str, float] = {}
        for idx in progress(batches, cfg.progress, f"c2f epoch {epoch + 1}/{cfg.epochs}"):
            given = None if estimate is None else (estimate[0][idx], estimate[1])
            total, logged = losses(net, dataset.batch(idx).to(device), given)
            descend(net, opt, total, 0.0)  # C2F clips no gradients
            for k, v in logged.items():
                sums[k] = sums.get(k, 0.0) + v / len(batches)
        return sums

    extra = {"net_config": net.coarse.config.to_dict(), "gcn_config": asdict(net.config),
             "hierarchy_key": net.hierarchy_key, "train_config": asdict(cfg)}
    return fit(net, opt, cfg.epochs, epoch_fn, out_dir, cfg.checkpoint_every, extra, name="c2f")


def load_c2f_net(path: str | Path, model: nn.Module, hierarchy: MeshHierarchy) -> CoarseToFineNet:
    """Rebuild a CoarseToFineNet from a checkpoint of :func:`train_c2f_stage` (same hierarchy)."""
    state = load_checkpoint(path)
    if "gcn_config" not in state:
        raise ValueError(f"checkpoint {path} has no 'gcn_config'; not written by train_c2f_stage")
    if state.get("hierarchy_key") != hierarchy.key:
        raise ValueError(f"checkpoint {path} was trained on another mesh hierarchy than the one given")
    net_cfg = NetConfig.from_dict(state["net_config"], f"{path}:net_config")
    net_cfg.pretrained = None
    net = CoarseToFineNet(build_single_frame_net(net_cfg, model), hierarchy, GCNConfig(**state["gcn_config"]))
    net.load_state_dict(state["model"])
    return net


@torch.no_grad()
def predict_c2f(net: CoarseToFineNet, model: nn.Module, crops: np.ndarray, batch_size: int = 16) -> tuple[SMALParams, torch.Tensor]:
    """Eval-mode coarse parameters (N,) and per-frame offsets (N, V, 3) for crops (N, S, S, 3), on CPU."""
    device = next(net.parameters()).device
    net.eval()
    params, offsets = [], []
    for i in range(0, len(crops), batch_size):
        p, d = net(crops_to_tensor(crops[i : i + batch_size]).to(device), model.to(device))
        params.append(p.detach().to("cpu"))
        offsets.append(d.cpu())
    return SMALParams.cat(params), torch.cat(offsets)


@torch.no_grad()
def refine_predictions(net: CoarseToFineNet, model: nn.Module, crops: np.ndarray, params: SMALParams,
                       base_offsets: torch.Tensor | None = None, batch_size: int = 16) -> torch.Tensor:
    """The GCN's per-frame offsets (N, V, 3) for another network's crop-camera estimate ``params``
    (N,) of the same crops (e.g. the online network's), whose mesh includes ``base_offsets`` (V, 3)."""
    device = next(net.parameters()).device
    net.eval()
    model = model.to(device)
    out = []
    for i in range(0, len(crops), batch_size):
        p = params[i : i + batch_size].to(device)
        base = None if base_offsets is None else base_offsets.to(device)[None].expand(len(p.focal), -1, -1)
        vertices = model(p.betas, p.pose, p.trans, p.limb_scale, base).vertices
        features = net.coarse.encoder.forward_features(crops_to_tensor(crops[i : i + batch_size]).to(device))
        out.append(net.offsets(features, vertices, p.focal).cpu())
    return torch.cat(out)


def fuse_offsets(offsets: torch.Tensor, how: str = "median", sigma: float = 0.0) -> torch.Tensor:
    """The per-frame canonical offsets (N, V, 3) of a video made one shape (V, 3): their
    per-coordinate ``median`` (robust to frames where the pose or the mask is wrong) or ``mean``;
    or (N, V, 3) kept per frame but ``smooth``ed in time (Gaussian, ``sigma`` frames; 0 = as the
    GCN gave them): each frame keeps the correction its own image asks for, without the jitter."""
    if how == "median":
        return offsets.median(dim=0).values
    if how == "mean":
        return offsets.mean(dim=0)
    if how == "smooth":
        if sigma <= 0:
            return offsets
        return torch.from_numpy(gaussian_filter1d(offsets.numpy(), sigma, axis=0, mode="nearest"))
    raise ValueError(f"unknown offset fusion {how!r}; use one of {FUSIONS}")
