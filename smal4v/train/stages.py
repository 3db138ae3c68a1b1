"""Workflow stages around the networks: HDF5 artifacts in, trained networks and predictions out.

Networks work on square crops with a *crop camera* (principal point at the crop centre, focal in
crop pixels). Its full-frame equivalent is a camera with focal ``f * side / S`` and principal
point at the crop window's centre, so predictions are stored per frame with ``focal`` and
``principal`` in original-frame pixels and ``vertices`` in that camera's frame.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smal4v.data import artifacts
from smal4v.data.annotations import SPLIT_TRAIN
from smal4v.data.cropping import crop_camera_from_full, crop_mask, full_camera_from_crop, original_to_crop
from smal4v.data.generic_images import read_generic_images
from smal4v.model import load_keypoint_set, load_model
from smal4v.model.animal_model import AnimalModel
from smal4v.nets.keypoint_head import DetectedKeypoints
from smal4v.nets.params import SMALParams
from smal4v.nets.single_frame import SingleFrameNet, build_single_frame_net
from smal4v.nets.temporal import predict_sequence
from smal4v.render import Camera, rasterize_hard
from smal4v.train.config import DetectorAdaptationConfig, KeypointFitConfig, NetConfig
from smal4v.train.datasets import FrameDataset, rehearsal_mix
from smal4v.train.detector_adaptation import adapt_detector
from smal4v.train.keypoint_fit import fit_to_detections
from smal4v.train.loop import seed_everything, select_device
from smal4v.train.online import SequenceData, load_online_net, train_online
from smal4v.train.refine import refine_sequence
from smal4v.train.scene import Priors, Scene
from smal4v.train.single_frame import (detect_single_frame, encode_and_detect, load_single_frame_net, predict_single_frame,
                                      train_single_frame)


def _with_run_settings(cfg: Mapping[str, Any], seed: int, device: str) -> dict[str, Any]:
    """A stage's training config with the workflow-wide seed and device filled in."""
    return {**dict(cfg), "seed": int(seed), "device": device}


def crop_keypoints(keypoints: np.ndarray, windows: np.ndarray, size: int) -> np.ndarray:
    """(N,K,3) original-pixel keypoints -> crop pixels; points leaving the crop become invisible."""
    out = keypoints.astype(np.float32).copy()
    out[..., :2] = original_to_crop(keypoints[..., :2], windows[:, None, :], size)
    inside = (out[..., :2] >= 0).all(-1) & (out[..., :2] <= size).all(-1)
    out[..., 2] = np.where(inside, out[..., 2], 0.0)
    return out


def crop_masks(masks: np.ndarray, windows: np.ndarray, size: int) -> np.ndarray:
    """(N,H,W) bool masks -> (N,S,S) float crops in [0, 1]."""
    return np.stack([crop_mask(m, w, size) for m, w in zip(masks, windows)]).astype(np.float32)


def crop_ground_truth(gt: Mapping[str, np.ndarray], windows: np.ndarray, size: int, frame_hw: tuple[int, int]) -> dict[str, np.ndarray]:
    """Synthetic 3D ground truth (full-frame camera, principal at the image centre) expressed
    for the crop camera: focal scaled by S/side; translation shifted so the root projects where
    it does in the crop (the crop camera's principal point differs from the frame's: exact at
    the root's depth, approximate elsewhere)."""
    scale = size / windows[:, 2]
    focal = gt["focal"] * scale
    h, w = frame_hw
    principal_in_crop = (np.array([w / 2.0, h / 2.0])[None] - windows[:, :2]) * scale[:, None]
    root_depth = gt["joints"][:, 0, 2]
    shift = root_depth[:, None] * (principal_in_crop - size / 2.0) / focal[:, None]
    trans = gt["trans"].copy()
    trans[:, :2] += shift
    return {"betas": gt["betas"], "pose": gt["pose"], "trans": trans, "focal": focal}


def base_dataset(frames_paths: Sequence[str], ground_truth_paths: Sequence[str],
                 image_paths: Sequence[str] = (), offsets: bool = False) -> FrameDataset:
    """The base network's generic set: the rendered generic images (:mod:`smal4v.data.generic_images`)
    and every frame of the generic synthetic sequences, each with dense keypoints, masks and 3D truth;
    with ``offsets``, also each animal's off-model offsets (``delta_v``, zeros where it has none;
    ~54 KB per row, so only loaded for a loss that uses them)."""
    keys = ("betas", "pose", "trans", "focal", *(["delta_v"] if offsets else []))
    parts = []
    if image_paths:
        g = read_generic_images(list(image_paths), offsets)
        parts.append(FrameDataset(g["images"], g["keypoints"], g["masks"], gt={k: g[k] for k in keys if k in g},
                                  name="generic images"))
    if frames_paths:
        parts.append(_generic_sequence_frames(frames_paths, ground_truth_paths, offsets))
    if not parts:
        raise ValueError("the base network needs a generic set: generic_images.n_images > 0 or sequences of split 'generic'")
    return parts[0] if len(parts) == 1 else FrameDataset.concat(parts, name="base training set")


def _generic_sequence_frames(frames_paths: Sequence[str], ground_truth_paths: Sequence[str],
                             offsets: bool = False) -> FrameDataset:
    """Every frame of the generic synthetic sequences with dense keypoints, masks and 3D truth
    (with ``offsets``, the animal's off-model offsets on every frame where its video has them)."""
    parts = []
    for frames_path, gt_path in zip(frames_paths, ground_truth_paths):
        fr = artifacts.read_artifact(frames_path, "frames", ["crops", "crop_boxes", "frames"])
        gt = artifacts.read_artifact(gt_path, "ground_truth")
        missing = [k for k in ("betas", "pose", "trans", "focal", "joints") if k not in gt]
        if missing:
            raise ValueError(f"{gt_path}: base training needs 3D ground truth, missing {missing}")
        size, n = fr["crops"].shape[1], len(fr["crops"])
        truth = crop_ground_truth(gt, fr["crop_boxes"], size, fr["frames"].shape[1:3])
        if offsets and "delta_v" in gt:  # one animal per video
            truth["delta_v"] = np.broadcast_to(gt["delta_v"], (n, *gt["delta_v"].shape))
        parts.append(FrameDataset(fr["crops"], crop_keypoints(gt["keypoints"], fr["crop_boxes"], size),
                                  crop_masks(gt["masks"], fr["crop_boxes"], size), gt=truth, name=frames_path))
    return parts[0] if len(parts) == 1 else FrameDataset.concat(parts, name="generic sequences")


def parent_dataset(frames_paths: Sequence[str], annotations_paths: Sequence[str], silhouettes_paths: Sequence[str]) -> FrameDataset:
    """The training-split annotated frames of the dataset's training videos: crops, their
    keypoints and their (densified) silhouettes; held-out frames are never read."""
    images, kps, masks = [], [], []
    for frames_path, ann_path, sil_path in zip(frames_paths, annotations_paths, silhouettes_paths):
        ann = artifacts.read_artifact(ann_path, "annotations", ["keypoints", "keypoint_split"])
        frames = np.flatnonzero(ann["keypoint_split"] == SPLIT_TRAIN)
        if len(frames) == 0:
            continue
        fr = artifacts.read_artifact(frames_path, "frames", ["crops", "crop_boxes"])
        sil = artifacts.read_artifact(sil_path, "silhouettes", ["masks"])["masks"]
        size = fr["crops"].shape[1]
        windows = fr["crop_boxes"][frames]
        images.append(fr["crops"][frames])
        kps.append(crop_keypoints(ann["keypoints"][frames], windows, size))
        masks.append(crop_masks(sil[frames], windows, size))
    if not images:
        raise ValueError(f"no training-split annotated frame in {list(annotations_paths)}: nothing to fine-tune the parent on")
    return FrameDataset(np.concatenate(images), np.concatenate(kps), np.concatenate(masks), name="parent training set")


def parent_training_set(frames_paths: Sequence[str], annotations_paths: Sequence[str], silhouettes_paths: Sequence[str],
                        rehearsal: float = 0.0, generic_frames: Sequence[str] = (),
                        generic_ground_truth: Sequence[str] = (), generic_images: Sequence[str] = (),
                        offsets: bool = False) -> FrameDataset:
    """The parent's training set: the training videos' annotated frames (:func:`parent_dataset`)
    and, with ``rehearsal`` > 0, the base's generic set with its 3D truth (rehearsal; with
    ``offsets``, the generic animals' off-model offsets too: :func:`base_dataset`).

    The few annotated frames are repeated so that a ``rehearsal`` share of every epoch comes
    from the generic set: the parent adapts to the dataset's look while it keeps what base
    learned from 3D supervision instead of overfitting a handful of frames (METHOD.md 8).
    """
    target = parent_dataset(frames_paths, annotations_paths, silhouettes_paths)
    if rehearsal == 0.0:
        return target
    if not generic_frames and not generic_images:
        raise ValueError("parent.rehearsal > 0 needs the generic set (generic images or sequences of split 'generic')")
    return rehearsal_mix(target, base_dataset(generic_frames, generic_ground_truth, generic_images, offsets), rehearsal)


def _save_network(work_dir: Path, out_model: str, out_losses: str, out_curve: str) -> None:
    """Copy a finished training run's checkpoint, loss table and curve to the rule outputs."""
    for src, dst in (("checkpoint.pt", out_model), ("losses.csv", out_losses), ("losses.png", out_curve)):
        shutil.copyfile(work_dir / src, dst)


def train_network(dataset: FrameDataset, network_cfg: Mapping[str, Any], train_cfg: Mapping[str, Any], model_spec: str,
                  keypoint_set: str, seed: int, device: str, out_model: str, out_losses: str, out_curve: str,
                  init: str | None = None) -> None:
    """Train a single-frame network (``base`` from scratch, ``parent`` from ``init``).

    Work happens in ``<out_model>.work/`` so an interrupted run resumes from its last epoch.
    """
    model = load_model(model_spec)
    cfg = _with_run_settings(train_cfg, seed, device)
    seed_everything(int(seed))  # the fresh network's initial weights come from this seed
    kps = load_keypoint_set(keypoint_set)
    if init is not None:
        net = load_single_frame_net(init, model)
    else:
        net_cfg = NetConfig.from_dict(dict(network_cfg), "network")
        net_cfg.num_keypoints = len(kps.names) if net_cfg.keypoint_head else 0
        net = build_single_frame_net(net_cfg, model)
    work_dir = Path(f"{out_model}.work")
    train_single_frame(net, model, None, dataset, cfg, work_dir, init_checkpoint=None, keypoint_set=kps)
    _save_network(work_dir, out_model, out_losses, out_curve)
    shutil.rmtree(work_dir)


def encode_features(network_path: str, frames_path: str, out_path: str, model_spec: str, device: str,
                    created_by: str, adaptation: Mapping[str, Any] | None = None, annotations_path: str | None = None,
                    silhouettes_path: str | None = None, keypoint_set: str | None = None, seed: int = 0) -> None:
    """Frozen features of every crop of a sequence with the parent's encoder (once per sequence),
    and its keypoint head's detections where it has one (online's ``head_detections`` targets,
    :func:`video_detections`)."""
    model = load_model(model_spec)
    net = load_single_frame_net(network_path, model)
    crops = artifacts.read_artifact(frames_path, "frames", ["crops"])["crops"]
    dev = select_device(device)
    if net.keypoint_head is None:
        datasets = {"features": net.encoder.to(dev).encode_frames(crops, device=dev)}
    else:
        features, detected = encode_and_detect(net.to(dev), crops)
        datasets = {"features": features,
                    "detections": video_detections(net, model.to(dev), crops, detected, frames_path, adaptation,
                                                   annotations_path, silhouettes_path, keypoint_set, seed)}
    artifacts.write_artifact(out_path, "features", datasets, {"encoder": net.config.backbone}, created_by)


def video_detections(net: SingleFrameNet, model: AnimalModel, crops: np.ndarray, detected: DetectedKeypoints,
                     frames_path: str, adaptation: Mapping[str, Any] | None, annotations_path: str | None,
                     silhouettes_path: str | None, keypoint_set: str | None, seed: int) -> np.ndarray:
    """A video's keypoint detections as online targets: the parent's own (``detected``), or with
    ``adaptation`` steps > 0 (:class:`DetectorAdaptationConfig`) those of a copy of the parent adapted
    to the video's training keypoints (``annotations_path``) and densified masks (``silhouettes_path``):
    :func:`smal4v.train.detector_adaptation.adapt_detector`."""
    cfg = DetectorAdaptationConfig.from_dict(dict(adaptation or {}), "detector_adaptation")
    if cfg.steps > 0:
        if annotations_path is None or silhouettes_path is None or keypoint_set is None:
            raise ValueError("encode_features: detector_adaptation.steps > 0 needs the annotations, silhouettes and keypoint set")
        keypoints, masks, _ = per_video_targets(frames_path, annotations_path, silhouettes_path)
        adapted = adapt_detector(net, model, load_keypoint_set(keypoint_set), crops, keypoints, masks, cfg, seed,
                                 Path(frames_path).parent.name)
        detected = encode_and_detect(adapted, crops)[1]
    return detected.as_targets().numpy()


def online_sequence_data(features_path: str, frames_path: str, annotations_path: str, silhouettes_path: str,
                         name: str, detections: np.ndarray | None = None) -> SequenceData:
    """What online training may see of one video: features, training-split keypoints (held-out
    frames are blanked), the densified silhouette of every frame, all in crop coordinates, and
    the keypoint detections stored with the features (or ``detections`` in their place)."""
    encoded = artifacts.read_artifact(features_path, "features")
    keypoints, masks, size = per_video_targets(frames_path, annotations_path, silhouettes_path)
    return SequenceData(encoded["features"], keypoints, masks, size, name=name,
                        detections=encoded.get("detections") if detections is None else detections)


def per_video_targets(frames_path: str, annotations_path: str, silhouettes_path: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Crop-pixel training-split keypoints (held-out frames blanked), cropped densified masks
    of every frame, and the crop size: what per-video training may see."""
    fr = artifacts.read_artifact(frames_path, "frames", ["crop_boxes", "crops"])
    ann = artifacts.read_artifact(annotations_path, "annotations", ["keypoints", "keypoint_split"])
    sil = artifacts.read_artifact(silhouettes_path, "silhouettes", ["masks"])["masks"]
    size = fr["crops"].shape[1]
    keypoints = crop_keypoints(ann["keypoints"], fr["crop_boxes"], size)
    keypoints[ann["keypoint_split"] != SPLIT_TRAIN, :, 2] = 0.0
    return keypoints, crop_masks(sil, fr["crop_boxes"], size), size


def predictions_artifact(params: SMALParams, frames_path: str, model_spec: str, keypoint_set: str, variant: str,
                         out_path: str, created_by: str, delta_v: torch.Tensor | None = None) -> None:
    """Per-frame crop-camera parameters (and optional per-video vertex offsets (V, 3), or
    per-frame ones (N, V, 3), which only the vertices keep) -> the ``predictions`` artifact in
    original-frame pixels: model parameters, camera-frame vertices, projected keypoints and hard
    silhouettes."""
    model = load_model(model_spec)
    kps = load_keypoint_set(keypoint_set)
    fr = artifacts.read_artifact(frames_path, "frames", ["crop_boxes", "crops", "frames"])
    size = fr["crops"].shape[1]
    h, w = fr["frames"].shape[1:3]
    focal, principal = full_camera_from_crop(params.focal.numpy(), fr["crop_boxes"], size)
    with torch.no_grad():
        offsets = None if delta_v is None else (delta_v if delta_v.dim() == 3 else delta_v[None].expand(len(params.focal), -1, -1))
        out = model(params.betas, params.pose, params.trans, params.limb_scale, offsets)
        camera = Camera(torch.as_tensor(focal, dtype=torch.float32), (h, w), torch.as_tensor(principal, dtype=torch.float32))
        keypoints_2d = camera.project(kps.select(out, model))
        silhouettes = torch.cat([rasterize_hard(out.vertices[i:i + 16], model.faces,
                                                Camera(camera.focal[i:i + 16], (h, w), camera.principal[i:i + 16]))
                                 for i in range(0, len(out.vertices), 16)])
    datasets = {k: v for k, v in params.to_numpy().items() if v is not None}
    datasets.update(focal=focal, principal=principal, keypoints_2d=keypoints_2d.numpy(),
                    silhouettes=silhouettes.numpy(), vertices=out.vertices.numpy(), joints=out.joints.numpy())
    if delta_v is not None and delta_v.dim() == 2:
        datasets["delta_v"] = delta_v.numpy()
    artifacts.write_artifact(out_path, "predictions", datasets, {"variant": variant, "keypoint_names": kps.names}, created_by)


def fit_settings(net: SingleFrameNet, fit_cfg: Mapping[str, Any] | None, network_path: str) -> KeypointFitConfig:
    """The ``keypoint_fit`` settings for ``net``, checked before any frame is read: a fit needs
    the keypoint head (``network_path`` names the network in the error)."""
    fit = KeypointFitConfig.from_dict(dict(fit_cfg or {}), "keypoint_fit")
    if fit.steps > 0 and net.keypoint_head is None:
        raise ValueError(f"keypoint_fit.steps is {fit.steps} but {network_path} has no keypoint head: train it with "
                         "network.keypoint_head: true, or set keypoint_fit.steps: 0")
    return fit


def single_frame_estimate(net: SingleFrameNet, model: torch.nn.Module, crops: np.ndarray, keypoint_set: str,
                          fit: KeypointFitConfig) -> SMALParams:
    """A single-frame network's per-frame parameters (N,) of ``crops``, fitted to its keypoint
    head's detections when ``fit`` (:func:`fit_settings`) has steps."""
    if fit.steps <= 0:
        return predict_single_frame(net, crops)
    params, detected = detect_single_frame(net, crops)
    scene = Scene(model, load_keypoint_set(keypoint_set), crops.shape[1])
    return fit_to_detections(params, detected, scene, Priors(model, net.config.shape_family), fit)


def predict_variant(network_path: str, frames_path: str, model_spec: str, keypoint_set: str, variant: str, device: str,
                    out_path: str, created_by: str, fit_cfg: Mapping[str, Any] | None = None) -> None:
    """Predictions of a single-frame network (``base`` or ``parent``) on every frame of a video,
    fitted to its keypoint head's detections when ``fit_cfg`` (``keypoint_fit``) has steps."""
    model = load_model(model_spec)
    net = load_single_frame_net(network_path, model).to(select_device(device))
    fit = fit_settings(net, fit_cfg, network_path)
    crops = artifacts.read_artifact(frames_path, "frames", ["crops"])["crops"]
    params = single_frame_estimate(net, model, crops, keypoint_set, fit)
    predictions_artifact(params, frames_path, model_spec, keypoint_set, variant, out_path, created_by)


def train_online_variant(parent_path: str, data: SequenceData, cfg: Mapping[str, Any], model_spec: str,
                         keypoint_set: str, seed: int, device: str, out_model: str, out_losses: str,
                         out_curve: str) -> tuple[SMALParams, torch.Tensor | None]:
    """Per-video online training (temporal or single-frame per ``cfg['temporal']``) on top of the
    parent; returns the merged per-frame predictions (crop camera) and the sequence's vertex
    offsets (V, 3) (None without ``shape_offsets``)."""
    model = load_model(model_spec)
    parent = load_single_frame_net(parent_path, model)
    work_dir = Path(f"{out_model}.work")
    net, preds, _ = train_online(parent, model, None, data, _with_run_settings(cfg, seed, device), work_dir,
                                 load_keypoint_set(keypoint_set))
    _save_network(work_dir, out_model, out_losses, out_curve)
    shutil.rmtree(work_dir)
    with torch.no_grad():
        offsets = net.vertex_offsets()
    return preds.detach(), None if offsets is None else offsets.cpu()


def repredict_online_variant(network_path: str, parent_path: str, features_path: str, frames_path: str,
                             model_spec: str, keypoint_set: str, merge: str, variant: str, out_path: str,
                             created_by: str) -> None:
    """Predictions of a trained per-video network with the window merge ``merge`` instead of the
    one it was trained with: compares merges on the same trained networks, without training."""
    model = load_model(model_spec)
    features = torch.as_tensor(artifacts.read_artifact(features_path, "features")["features"])
    net, cfg = load_online_net(network_path, load_single_frame_net(parent_path, model), model, features)
    with torch.no_grad():
        params = predict_sequence(net, features, cfg.window, cfg.stride, merge)
        offsets = net.vertex_offsets()
    predictions_artifact(params, frames_path, model_spec, keypoint_set, variant, out_path, created_by, offsets)


def refine_variant(predictions_path: str, frames_path: str, annotations_path: str, silhouettes_path: str,
                   cfg: Mapping[str, Any], model_spec: str, keypoint_set: str, seed: int, device: str,
                   out_predictions: str, out_losses: str, out_curve: str, created_by: str,
                   features_path: str | None = None) -> None:
    """Per-video mesh refinement (:mod:`smal4v.train.refine`) of a variant's predictions (the
    online network's) -> ``predictions_refined``; the same targets as online training (the
    detections stored in ``features_path``, where it has them)."""
    model = load_model(model_spec)
    kps = load_keypoint_set(keypoint_set)
    coarse = artifacts.read_artifact(predictions_path, "predictions")
    windows = artifacts.read_artifact(frames_path, "frames", ["crop_boxes"])["crop_boxes"]
    keypoints, masks, size = per_video_targets(frames_path, annotations_path, silhouettes_path)
    detections = None if features_path is None else artifacts.read_artifact(features_path, "features").get("detections")
    focal_crop, _ = crop_camera_from_full(coarse["focal"], coarse["principal"], windows, size)
    params = SMALParams.from_numpy({**coarse, "focal": focal_crop})  # the crop camera of each frame
    work_dir = Path(f"{out_predictions}.work")
    coarse_offsets = torch.from_numpy(coarse["delta_v"]) if "delta_v" in coarse else None
    refined, delta_v, _ = refine_sequence(model, kps, params, torch.from_numpy(masks), torch.from_numpy(keypoints), size,
                                          _with_run_settings(cfg, seed, device), work_dir, coarse_offsets=coarse_offsets,
                                          detections=None if detections is None else torch.from_numpy(detections),
                                          name=Path(frames_path).parent.name)
    predictions_artifact(refined, frames_path, model_spec, keypoint_set, "refined", out_predictions, created_by, delta_v)
    for src, dst in (("losses.csv", out_losses), ("losses.png", out_curve)):
        shutil.copyfile(work_dir / src, dst)
    shutil.rmtree(work_dir)
