"""Tiny, deterministic runs of every resumable training stage, for the kill-and-resume tests.

``python tests/resume_stages.py STAGE DIR INIT`` runs one stage into ``DIR``, starting from the
network ``INIT`` (:func:`prerequisite`); the tests kill it with SIGKILL after its first
checkpoint and run it again. :func:`run_stage` is the same in-process. Each stage writes its
result files (what the workflow would keep) to ``DIR`` and keeps its checkpoint in
``DIR/WORK_DIRS[stage]`` while it runs, as the workflow stage does.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

S = 32
NET = {"image_size": S, "feature_dim": 16, "shape_family": "dog"}
KEYPOINT_SET = "badja20"
STAGES = ("base", "parent", "online", "refine", "osvos_parent")
# enough epochs that a stage is still running when its first checkpoint appears
SINGLE_FRAME = {"epochs": 3, "batch_size": 4, "lr": 1e-3, "progress": False, "checkpoint_every": 1,
                "loss": {"mask_size": 16}, "weights": {"keypoints": 10.0, "silhouette": 0.0}}
ONLINE = {"epochs": 3, "warmup_epochs": 1, "window": 4, "stride": 2, "windows_per_batch": 2, "gru_hidden": 8,
          "lr": 1e-3, "progress": False, "checkpoint_every": 1, "loss": {"mask_size": 16}}
REFINE = {"epochs": 3, "steps_per_epoch": 2, "frames_per_step": 2, "progress": False, "checkpoint_every": 1,
          "loss": {"mask_size": 16}}
OSVOS_PARENT = {"epochs": 3, "iterations_per_epoch": 3, "batch_size": 2, "work_max_side": 32, "progress": False,
                "threads": 1}


def frames(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images (n, S, S, 3) uint8 with a bright blob, its masks (n, S, S) and keypoints (n, 20, 3)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:S, :S]
    images = rng.integers(0, 80, (n, S, S, 3)).astype(np.uint8)
    centres = rng.uniform(10, S - 10, (n, 2))
    masks = ((xx[None] - centres[:, 0, None, None]) ** 2 + (yy[None] - centres[:, 1, None, None]) ** 2) < 36
    images[masks] = 220
    keypoints = np.concatenate([rng.uniform(4, S - 4, (n, 20, 2)), np.ones((n, 20, 1))], -1).astype(np.float32)
    return images, masks, keypoints


def _dataset():
    from smal4v.train.datasets import FrameDataset

    images, masks, keypoints = frames(8)
    return FrameDataset(images, keypoints, masks.astype(np.float32), name="tiny")


def _train(out: Path, cfg: dict, init: str | None = None) -> None:
    from smal4v.train.stages import train_network

    train_network(_dataset(), NET, cfg, "procedural", KEYPOINT_SET, 0, "cpu", f"{out}.pt", f"{out}.csv", f"{out}.png",
                  init=init)


def _sequence():
    from smal4v.train.online import SequenceData

    _, masks, keypoints = frames(8, seed=1)
    features = np.random.default_rng(2).normal(size=(8, 16)).astype(np.float32)
    keypoints[1::2, :, 2] = 0
    return SequenceData(features, keypoints, masks.astype(np.float32), S, name="tiny")


def prerequisite(directory: Path) -> Path:
    """A one-epoch base network the parent, online and refine stages start from."""
    path = directory / "init"
    if not Path(f"{path}.pt").is_file():
        _train(path, {**SINGLE_FRAME, "epochs": 1})
    return Path(f"{path}.pt")


def run_stage(stage: str, directory: Path, init: Path) -> None:
    """Run ``stage`` with its tiny settings; results go to ``directory``."""
    torch.set_num_threads(1)
    directory.mkdir(parents=True, exist_ok=True)
    if stage == "base":
        _train(directory / "base", SINGLE_FRAME)
    elif stage == "parent":
        _train(directory / "parent", SINGLE_FRAME, init=str(init))
    elif stage == "online":
        from smal4v.train.stages import train_online_variant

        out = directory / "online"
        params, _ = train_online_variant(str(init), _sequence(), ONLINE, "procedural", KEYPOINT_SET, 0, "cpu",
                                         f"{out}.pt", f"{out}.csv", f"{out}.png")
        torch.save(_tensors(params), directory / "online_predictions.pt")
    elif stage == "refine":
        _refine(directory, init)
    elif stage == "osvos_parent":
        from smal4v.segment.osvos import train_parent

        images, masks, _ = frames(6, seed=3)
        train_parent([(images, masks)], directory / "osvos_parent.pt", {**OSVOS_PARENT, "device": "cpu"},
                     work_dir=directory / "osvos_parent.pt_train")
    else:
        raise ValueError(f"unknown stage {stage!r}; known: {STAGES}")


def _refine(directory: Path, init: Path) -> None:
    """Refinement of the (one-epoch) parent's predictions on the tiny sequence."""
    import shutil

    from smal4v.model import load_keypoint_set, load_model
    from smal4v.train.refine import refine_sequence
    from smal4v.train.single_frame import load_single_frame_net, predict_single_frame

    model = load_model("procedural")
    images, masks, keypoints = frames(8, seed=1)
    coarse = predict_single_frame(load_single_frame_net(init, model), images)
    work = directory / "refine.work"
    refined, offsets, _ = refine_sequence(model, load_keypoint_set(KEYPOINT_SET), coarse, torch.from_numpy(masks).float(),
                                          torch.from_numpy(keypoints), S, {**REFINE, "device": "cpu"}, work)
    torch.save({**_tensors(refined), "delta_v": offsets}, directory / "refine_predictions.pt")
    shutil.copyfile(work / "losses.csv", directory / "refine_losses.csv")
    shutil.rmtree(work)


def _tensors(params) -> dict[str, torch.Tensor]:
    """SMALParams as a dict of tensors (what the predictions artifact is made of)."""
    return {k: torch.as_tensor(v) for k, v in params.to_numpy().items() if v is not None}


WORK_DIRS = {"base": "base.pt.work", "parent": "parent.pt.work", "online": "online.pt.work", "refine": "refine.work",
             "osvos_parent": "osvos_parent.pt_train"}
"""Where each stage keeps its checkpoint while it runs (relative to the stage's directory)."""


if __name__ == "__main__":
    run_stage(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
