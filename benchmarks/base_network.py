"""Benchmark: the base network alone on rendered generic images, against the mean-pose predictor.

    python benchmarks/base_network.py [--train 1600] [--held 300] [--epochs 6] [--image-size 128]
        [--variant NAME JSON ...] [--seeds 0] [--threads 1] [--cache benchmarks/work/base_network]

Renders a training and a held-out generic set (:mod:`smal4v.data.generic_images`, different
seeds: new animals, poses and views), trains one base network per variant and seed (JSON
overrides of the network / training settings, e.g. ``'{"net": {"spatial_grid": 0}}'``; loss
weights merge into the defaults) and
scores the held-out set: PCK@0.1 / @0.15 (sqrt area), IoU, median root-rotation error, and the
mean-pose predictor (the training set's mean keypoint layout and mean mask) for reference.
Rendered sets are cached as ``.npz`` under ``--cache`` (keyed by size, count and seed), so
variants can be compared without rendering again. Writes benchmarks/results/base_network.md
(or ``--out``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from workflow_runs import ROOT, git_commit, machine

from smal4v.data.generic_images import GenericImages, render_generic_images
from smal4v.evaluate.image_protocol import crop_predictions, image_set_scores
from smal4v.model import load_keypoint_set, load_model
from smal4v.model.rotations import axis_angle_to_matrix, geodesic_angle
from smal4v.nets.single_frame import build_single_frame_net
from smal4v.train.datasets import FrameDataset
from smal4v.train.loop import seed_everything
from smal4v.train.single_frame import train_single_frame

BASE_TRAIN = {"batch_size": 16, "lr": 1e-3, "progress": False, "checkpoint_every": 1000,
              "augment": {"flip": 0.5, "color_gain": 0.2, "scale_jitter": 0.1},
              "weights": {"keypoints": 10, "silhouette": 0, "betas": 1, "pose": 1, "trans": 1, "focal": 1,
                          "vertices": 1, "pose_prior": 0.001, "shape_prior": 0.001}}


def scores(net, model, kps, held) -> dict[str, float]:
    """Held-out PCK / IoU (image protocol, nothing padded) and the median root-rotation error."""
    params, _, kp, sil = crop_predictions(net, held.images, model, kps)
    root = torch.rad2deg(geodesic_angle(axis_angle_to_matrix(params.pose[:, 0]),
                                        axis_angle_to_matrix(torch.as_tensor(held.pose[:, 0])))).numpy()
    return {**evaluate(kp, sil, held, kps), "root_error_deg": float(np.median(root))}


def rendered_set(model, kps, image_size: int, n: int, seed: int, cache: Path) -> GenericImages:
    """A rendered generic set, read from ``cache`` when it was rendered before with these settings."""
    path = cache / f"generic_{image_size}px_{n}_seed{seed}.npz"
    if path.exists():
        with np.load(path) as f:
            return GenericImages(**{k: f[k] for k in f.files if k != "family"}, family=list(f["family"]))
    images = render_generic_images(model, kps, {"image_size": image_size}, n, seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **images.arrays(), family=np.array(images.family))
    return images


def evaluate(kp: np.ndarray, sil: np.ndarray, held, kps) -> dict[str, float]:
    n = len(held.images)
    image_set = {"keypoints": held.keypoints, "masks": held.masks, "has_mask": np.ones(n, bool),
                 "in_image": np.ones(held.masks.shape, bool)}
    out = {}
    for alpha in (0.1, 0.15):
        s = image_set_scores(kp, sil, image_set, dict(kps.parts), alpha)
        out[f"pck@{alpha:g}"], out["iou"] = s["pck"], s["iou"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=1600)
    parser.add_argument("--held", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--variant", nargs=2, action="append", metavar=("NAME", "JSON"),
                        help='e.g. spatial \'{"net": {"spatial_grid": 4}}\' (default: one "default" variant)')
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--cache", default="benchmarks/work/base_network", help="folder of rendered sets")
    parser.add_argument("--out", default="benchmarks/results/base_network.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, kps = load_model("procedural"), load_keypoint_set("badja20")
    t0 = time.time()
    train = rendered_set(model, kps, args.image_size, args.train, 1, ROOT / args.cache)
    held = rendered_set(model, kps, args.image_size, args.held, 2, ROOT / args.cache)
    render_s = time.time() - t0
    data = FrameDataset(train.images, train.keypoints, train.masks,
                        gt={k: getattr(train, k) for k in ("betas", "pose", "trans", "focal")}, name="generic")
    mean_kp = np.broadcast_to(train.keypoints[..., :2].mean(0), held.keypoints[..., :2].shape)
    mean_sil = np.broadcast_to(train.masks.mean(0) > 0.5, held.masks.shape)
    rows = {"mean-pose predictor": evaluate(mean_kp, mean_sil, held, kps)}
    for name, overrides in args.variant or [("default", "{}")]:
        extra = json.loads(overrides)
        for seed in args.seeds:
            seed_everything(seed)
            net = build_single_frame_net({"image_size": args.image_size, **extra.get("net", {})}, model)
            train = extra.get("train", {})
            cfg = {**BASE_TRAIN, "epochs": args.epochs, "seed": seed, **train,
                   "weights": {**BASE_TRAIN["weights"], **train.get("weights", {})}}
            t1 = time.time()
            with tempfile.TemporaryDirectory() as work:
                train_single_frame(net, model, None, data, cfg, work, keypoint_set=kps)
            rows[f"{name} (seed {seed})"] = {**scores(net, model, kps, held),
                                             "train_s": time.time() - t1}
    table = pd.DataFrame(rows).T
    lines = [
        "# Base network on rendered generic images",
        "",
        f"- date: {dt.datetime.now().isoformat(timespec='seconds')}, commit {git_commit()}",
        f"- machine: {machine()} ({args.threads} torch thread(s))",
        f"- command: `python benchmarks/base_network.py --train {args.train} --held {args.held} --epochs {args.epochs}"
        f" --image-size {args.image_size} --threads {args.threads} --seeds {' '.join(map(str, args.seeds))}"
        + "".join(f" --variant {n} '{j}'" for n, j in args.variant or []) + "`",
        f"- rendering {args.train + args.held} images (or reading them from the cache): {render_s:.0f} s",
        "",
        "Held-out images: other animals, poses and views than the training images (another seed).",
        "",
        table.to_markdown(floatfmt=".3f"),
        "",
    ]
    print("\n".join(lines))
    (ROOT / args.out).parent.mkdir(parents=True, exist_ok=True)
    (ROOT / args.out).write_text("\n".join(lines))


if __name__ == "__main__":
    main()
