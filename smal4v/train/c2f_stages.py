"""Workflow stages of the coarse-to-fine network: mesh hierarchy, GCN training (C2F stages 2
and 3 on top of the parent, the coarse stage 1), and the variants ``c2f`` (the refined
single-frame network on every frame, fitted to its detections as ``parent`` is) and ``online_c2f``
(the GCN applied to every frame of the online network's estimate, its canonical offsets fused
into one shape per video or smoothed in time: ``c2f.fuse``)."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smal4v.data import artifacts
from smal4v.data.cropping import crop_camera_from_full
from smal4v.model import load_keypoint_set, load_model
from smal4v.model.mesh_hierarchy import hierarchy_for_model, load_for_model
from smal4v.nets.coarse_to_fine import CoarseToFineNet
from smal4v.nets.params import SMALParams
from smal4v.train.c2f import fuse_offsets, load_c2f_net, refine_predictions, train_c2f_stage
from smal4v.train.c2f_config import C2FConfig
from smal4v.train.config import KeypointFitConfig
from smal4v.train.datasets import FrameDataset
from smal4v.train.loop import seed_everything, select_device
from smal4v.train.single_frame import load_single_frame_net
from smal4v.train.stages import (_save_network, fit_settings, per_video_targets, predictions_artifact,
                                 single_frame_estimate)

STAGES = ("stage2", "stage3")


def build_hierarchy_file(model_spec: str, cfg: Mapping[str, Any], out_path: str) -> None:
    """The mesh hierarchy of the workflow's body model, written once (keyed by the model's mesh)."""
    c = C2FConfig.from_dict({"hierarchy": dict(cfg)}).hierarchy
    hierarchy_for_model(load_model(model_spec), c.levels, c.factor).save(out_path)


def _hierarchy(path: str, model: torch.nn.Module, cfg: C2FConfig):
    return load_for_model(path, model, cfg.hierarchy.levels, cfg.hierarchy.factor)


def uses_offset_truth(cfg: Mapping[str, Any], stage: str) -> bool:
    """Whether ``stage``'s losses need the generic animals' true off-model offsets (weight ``offsets``)."""
    return getattr(C2FConfig.from_dict(dict(cfg)), stage).weights.get("offsets", 0.0) > 0


def train_c2f_network(stage: str, init: str, hierarchy_path: str, dataset: FrameDataset, cfg: Mapping[str, Any],
                      model_spec: str, keypoint_set: str, seed: int, device: str, out_model: str, out_losses: str,
                      out_curve: str) -> None:
    """C2F's stage 2 (a fresh GCN on the frozen parent ``init``) or stage 3 (joint fine-tuning of
    the stage-2 network ``init``); work in ``<out_model>.work/`` (resumable)."""
    if stage not in STAGES:
        raise ValueError(f"unknown C2F stage {stage!r}; use one of {STAGES}")
    c = C2FConfig.from_dict(dict(cfg))
    stage_cfg = getattr(c, stage)
    stage_cfg.seed, stage_cfg.device = int(seed), device
    model = load_model(model_spec)
    hierarchy = _hierarchy(hierarchy_path, model, c)
    seed_everything(int(seed))  # the fresh GCN's initial weights come from this seed
    if stage == "stage2":
        net = CoarseToFineNet(load_single_frame_net(init, model), hierarchy, c.gcn)
    else:
        net = load_c2f_net(init, model, hierarchy)
    work_dir = Path(f"{out_model}.work")
    train_c2f_stage(net, model, dataset, stage_cfg, work_dir, load_keypoint_set(keypoint_set))
    _save_network(work_dir, out_model, out_losses, out_curve)
    shutil.rmtree(work_dir)


def train_online_c2f_network(init: str, hierarchy_path: str, frames_path: str, annotations_path: str,
                              silhouettes_path: str, online_path: str, cfg: Mapping[str, Any], model_spec: str,
                              keypoint_set: str, seed: int, device: str, out_model: str, out_losses: str,
                              out_curve: str) -> None:
    """The trained GCN ``init`` trained further on one video (``c2f.online``, not C2F's): on the
    online network's estimate of every frame, against the densified silhouettes and the training
    keypoints, as SMAL4V trains its temporal network per video; work in ``<out_model>.work/``."""
    c = C2FConfig.from_dict(dict(cfg))
    stage_cfg = replace(c.online, seed=int(seed), device=device)
    model = load_model(model_spec)
    net = load_c2f_net(init, model, _hierarchy(hierarchy_path, model, c))
    keypoints, masks, _ = per_video_targets(frames_path, annotations_path, silhouettes_path)
    crops = artifacts.read_artifact(frames_path, "frames", ["crops"])["crops"]
    work_dir = Path(f"{out_model}.work")
    train_c2f_stage(net, model, FrameDataset(crops, keypoints, masks, name=frames_path), stage_cfg, work_dir,
                    load_keypoint_set(keypoint_set), crop_camera_estimate(frames_path, online_path))
    _save_network(work_dir, out_model, out_losses, out_curve)
    shutil.rmtree(work_dir)


def c2f_network(network_path: str, hierarchy_path: str, model_spec: str, cfg: Mapping[str, Any], device: str):
    """A trained CoarseToFineNet (on ``device``) and its body model."""
    model = load_model(model_spec)
    net = load_c2f_net(network_path, model, _hierarchy(hierarchy_path, model, C2FConfig.from_dict(dict(cfg))))
    return net.to(select_device(device)), model


def c2f_estimate(net: CoarseToFineNet, model: torch.nn.Module, crops: np.ndarray, keypoint_set: str,
                 fit: KeypointFitConfig) -> tuple[SMALParams, torch.Tensor]:
    """The c2f network's coarse estimate of every crop (N,), fitted to its keypoint head's
    detections as ``parent``'s is (``fit``: :func:`~smal4v.train.stages.fit_settings`), and the
    GCN's offsets (N, V, 3) on it: ``c2f`` and ``parent`` then differ by C2F's stages only."""
    params = single_frame_estimate(net.coarse, model, crops, keypoint_set, fit)
    return params, refine_predictions(net, model, crops, params)


def predict_c2f_variant(network_path: str, hierarchy_path: str, frames_path: str, cfg: Mapping[str, Any], model_spec: str,
                        keypoint_set: str, device: str, out_path: str, created_by: str,
                        fit_cfg: Mapping[str, Any] | None = None) -> None:
    """Variant ``c2f``: the refined single-frame network on every frame (:func:`c2f_estimate`)."""
    net, model = c2f_network(network_path, hierarchy_path, model_spec, cfg, device)
    fit = fit_settings(net.coarse, fit_cfg, network_path)
    crops = artifacts.read_artifact(frames_path, "frames", ["crops"])["crops"]
    params, offsets = c2f_estimate(net, model, crops, keypoint_set, fit)
    predictions_artifact(params, frames_path, model_spec, keypoint_set, "c2f", out_path, created_by, offsets)


def online_c2f_offsets(network_path: str, hierarchy_path: str, frames_path: str, online_path: str, cfg: Mapping[str, Any],
                       model_spec: str, device: str) -> tuple[SMALParams, torch.Tensor, torch.Tensor | None]:
    """The online estimate of a video (crop camera), the GCN's per-frame canonical offsets
    (N, V, 3) for it and the online network's own per-video offsets (V, 3) or None."""
    net, model = c2f_network(network_path, hierarchy_path, model_spec, cfg, device)
    params, base = crop_camera_estimate(frames_path, online_path)
    crops = artifacts.read_artifact(frames_path, "frames", ["crops"])["crops"]
    return params, refine_predictions(net, model, crops, params, base), base


def crop_camera_estimate(frames_path: str, predictions_path: str) -> tuple[SMALParams, torch.Tensor | None]:
    """A variant's per-frame estimate in the crop camera (the networks' frame) and its per-video
    offsets (V, 3) or None."""
    pred = artifacts.read_artifact(predictions_path, "predictions")
    fr = artifacts.read_artifact(frames_path, "frames", ["crops", "crop_boxes"])
    focal_crop, _ = crop_camera_from_full(pred["focal"], pred["principal"], fr["crop_boxes"], fr["crops"].shape[1])
    return SMALParams.from_numpy({**pred, "focal": focal_crop}), (torch.from_numpy(pred["delta_v"]) if "delta_v" in pred else None)


def predict_online_c2f_variant(network_path: str, hierarchy_path: str, frames_path: str, online_path: str,
                               cfg: Mapping[str, Any], model_spec: str, keypoint_set: str, device: str, out_path: str,
                               created_by: str) -> None:
    """Variant ``online_c2f``: the online estimate with the GCN's offsets of every frame fused
    (``c2f.fuse``: one per-video shape, or smoothed in time), added to the online network's own offsets."""
    params, offsets, base = online_c2f_offsets(network_path, hierarchy_path, frames_path, online_path, cfg, model_spec,
                                               device)
    c = C2FConfig.from_dict(dict(cfg))
    fused = fuse_offsets(offsets, c.fuse, c.fuse_sigma)
    delta_v = fused if base is None else base + fused
    predictions_artifact(params, frames_path, model_spec, keypoint_set, "online_c2f", out_path, created_by, delta_v)
