"""Benchmark: cost of one training step of the published settings' single-frame network
(ResNet-50 at 224 px), measured here, and the wall-time estimates scaled up from it.

    OMP_NUM_THREADS=1 python benchmarks/dataset_settings.py [--steps 3] [--threads 1]

Times real steps of :func:`smal4v.train.single_frame.batch_losses` + backward + Adam on random
crops (batch 8 and 32; keypoints only, and keypoints + soft silhouettes at 64 px) and the peak
resident memory. Writes ``benchmarks/results/dataset_settings.md``; the GPU figures there are
ESTIMATES from these CPU measurements and stated assumptions, not measurements.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workflow_runs import machine  # noqa: E402

from smal4v.model import load_keypoint_set, load_model  # noqa: E402
from smal4v.nets.single_frame import build_single_frame_net  # noqa: E402
from smal4v.train.config import NetConfig, SingleFrameTrainConfig  # noqa: E402
from smal4v.train.datasets import FrameDataset  # noqa: E402
from smal4v.train.scene import Priors, Scene  # noqa: E402
from smal4v.train.single_frame import batch_losses  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "dataset_settings.md"


def step_seconds(batch_size: int, silhouette: bool, steps: int) -> float:
    """Mean seconds of one training step (after one warm-up step)."""
    torch.manual_seed(0)
    model = load_model("procedural")
    kps = load_keypoint_set("stanford_extra")
    net = build_single_frame_net(NetConfig(backbone="resnet50", image_size=224, feature_dim=1024, shape_family="dog"), model)
    weights = {"keypoints": 10.0, "silhouette": 10.0 if silhouette else 0.0, "pose_prior": 1.0, "shape_prior": 1.0}
    cfg = SingleFrameTrainConfig.from_dict({"loss": {"mask_size": 64}, "weights": weights}, "bench")
    rng = np.random.default_rng(0)
    kp = np.concatenate([rng.uniform(40, 184, (batch_size, len(kps), 2)), np.ones((batch_size, len(kps), 1))], -1)
    data = FrameDataset(rng.integers(0, 255, (batch_size, 224, 224, 3), dtype=np.uint8), kp,
                        np.zeros((batch_size, 224, 224), np.float32) + (rng.uniform(size=(batch_size, 224, 224)) > 0.6))
    scene = Scene(model, kps, 224, 64, cfg.loss.silhouette_sigma)
    priors = Priors(model, "dog")
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    batch = data.batch(np.arange(batch_size))
    times = []
    for i in range(steps + 1):
        start = time.perf_counter()
        opt.zero_grad()
        total, _ = batch_losses(net, scene, priors, batch, cfg)
        total.backward()
        opt.step()
        if i > 0:
            times.append(time.perf_counter() - start)
    return float(np.mean(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    a = parser.parse_args()
    torch.set_num_threads(a.threads)
    rows = []
    for batch_size in (8, 32):
        for silhouette in (False, True):
            s = step_seconds(batch_size, silhouette, a.steps)
            rows.append((batch_size, silhouette, s, s / batch_size))
            print(rows[-1], flush=True)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else ["?"]
    lines = [
        "# Single-frame training step of the published settings (ResNet-50, 224 px)", "",
        f"Machine: {machine()}, {a.threads} thread(s); load average at the end {' '.join(load)} (shared machine).",
        f"Command: `OMP_NUM_THREADS={a.threads} python benchmarks/dataset_settings.py --steps {a.steps} --threads {a.threads}`",
        f"Date: {dt.date.today()}, commit {commit} (with the uncommitted issue-15 files).", "",
        "| batch | silhouettes (64 px) | s / step | s / image |", "| --- | --- | --- | --- |",
        *[f"| {b} | {'yes' if s else 'no'} | {t:.2f} | {t / b:.3f} |" for b, s, t, _ in rows], "",
        f"Peak resident memory of the process: {peak_gb:.1f} GB (CPU).", "",
    ]
    OUT.write_text("\n".join(lines))
    print(OUT)


if __name__ == "__main__":
    main()
