"""Training stages of the image-dataset mode: the single-frame network fine-tuned on the
training image sets (StanfordExtra, AnimalKey frames, TigDog), one stage after the other.

Each stage of ``images.stages`` in the config is a :class:`~smal4v.train.config.SingleFrameTrainConfig`
plus its ``name``; stage 1 starts from the base network, every later stage from the stage before
(C2F's schedule, METHOD.md 3.5: stage 1 keypoints + priors, stage 3 joint fine-tuning at a lower
learning rate; its stage 2 trains the GCN, which is not a stage of the image mode yet). With ``images.init: none``
stage 1 starts from a fresh network instead (C2F starts from ImageNet weights).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from smal4v.data import artifacts
from smal4v.train.config import SingleFrameTrainConfig
from smal4v.train.datasets import FrameDataset
from smal4v.train.stages import train_network


def image_training_set(paths: Sequence[str]) -> tuple[FrameDataset, str]:
    """Every image of the training image sets (crops, keypoints, masks where segmented) and
    their common keypoint set."""
    parts, sets = [], set()
    for path in paths:
        data = artifacts.read_artifact(path, "image_set", ["crops", "keypoints", "masks", "has_mask"])
        sets.add(data["attrs"]["keypoint_set"])
        parts.append(data)
    if not parts:
        raise ValueError("image-mode training: no training image set (split 'train' in the image-set sheet)")
    if len(sets) > 1:
        raise ValueError(f"image-mode training: the training image sets use different keypoint sets {sorted(sets)}")
    dataset = FrameDataset(np.concatenate([p["crops"] for p in parts]), np.concatenate([p["keypoints"] for p in parts]),
                           np.concatenate([p["masks"] for p in parts]).astype(np.float32),
                           np.concatenate([p["has_mask"] for p in parts]), name="image training set")
    return dataset, sets.pop()


def check_stages(stages: Sequence[Mapping[str, Any]]) -> list[str]:
    """The stage names of ``images.stages`` after checking them (unique) and each stage's
    settings (unknown keys or bad values name the stage), so a typo stops the workflow at once."""
    names = [str(s.get("name", "")) for s in stages]
    if len(set(names)) != len(names):
        raise ValueError(f"images.stages: stage names must be unique, got {names}")
    for name in names:
        SingleFrameTrainConfig.from_dict(stage_settings(stages, name), f"images.stages[{name}]")
    return names


def stage_settings(stages: Sequence[Mapping[str, Any]], name: str) -> dict[str, Any]:
    """The training settings of stage ``name`` (without its name)."""
    names = [str(s.get("name", "")) for s in stages]
    if name not in names:
        raise KeyError(f"images.stages has no stage {name!r} (stages: {names})")
    return {k: v for k, v in stages[names.index(name)].items() if k != "name"}


def train_image_stage(image_set_paths: Sequence[str], stage_cfg: Mapping[str, Any], network_cfg: Mapping[str, Any],
                      model_spec: str, seed: int, device: str, init: str | None, out_model: str, out_losses: str,
                      out_curve: str) -> None:
    """Train on the training image sets with one stage's settings, starting from the network
    ``init`` (None: a fresh one built from ``network_cfg``)."""
    dataset, keypoint_set = image_training_set(image_set_paths)
    train_network(dataset, network_cfg, stage_cfg, model_spec, keypoint_set, seed, device, out_model, out_losses,
                  out_curve, init=init)
