"""Shared fixtures-as-functions of the densification tests: sequence artifacts and CLI folders."""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from smal4v.data import artifacts
from smal4v.segment.cli_densify import add_densify_command


def write_sequence_artifacts(folder: Path, frames: np.ndarray, gt: np.ndarray, given: np.ndarray) -> None:
    """``frames.h5`` and ``annotations.h5`` (the masks of ``given`` frames) in ``folder``."""
    n = len(frames)
    artifacts.write_artifact(folder / "frames.h5", "frames", {
        "frames": frames, "crops": frames[:, :16, :16], "crop_boxes": np.zeros((n, 3)), "bboxes": np.zeros((n, 4))},
        {"fps": 10.0, "source": "test", "frame_names": [str(i) for i in range(n)]})
    artifacts.write_artifact(folder / "annotations.h5", "annotations", {
        "keypoints": np.zeros((n, 2, 3)), "keypoint_split": np.zeros(n, np.uint8),
        "masks": np.where(given[:, None, None], gt, False), "masks_given": given},
        {"keypoint_set": "test", "keypoint_names": ["a", "b"]})


def run_densify_cli(folder: Path, frames: np.ndarray, gt: np.ndarray, given_idx: list[int], ext: str,
                    options: list[str]) -> np.ndarray:
    """Write frame/mask folders under ``folder``, run ``smal4v densify`` with ``options`` and
    return the masks it wrote (N, H, W) bool (asserting one per frame, named like it)."""
    (folder / "frames").mkdir()
    (folder / "masks").mkdir()
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / "frames" / f"{i:05d}.{ext}"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    for i in given_idx:
        cv2.imwrite(str(folder / "masks" / f"{i:05d}.png"), gt[i].astype(np.uint8) * 255)
    parser = argparse.ArgumentParser()
    add_densify_command(parser.add_subparsers())
    a = parser.parse_args(["densify", str(folder / "frames"), str(folder / "masks"), str(folder / "out"), *options])
    assert a.handler(a) == 0
    out = sorted((folder / "out").glob("*.png"))
    assert [p.stem for p in out] == [f"{i:05d}" for i in range(len(frames))]
    return np.stack([cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) > 127 for p in out])
