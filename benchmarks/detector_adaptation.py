"""Benchmark: the parent's keypoint detections adapted to each test video, on a finished run.

    python benchmarks/detector_adaptation.py --run RUN [--run RUN ...] \\
        --variant 'config={}' --variant 'lr 1e-3={lr: 0.001}' [--out FILE]

``RUN`` is a workflow results folder (e.g. a seed of ``benchmarks/synthetic.py``) whose parent has
a keypoint head. For every test video it scores the parent's detections as they are and, per
``--variant NAME=YAML`` (``config/config.yaml``'s ``detector_adaptation`` updated by YAML), the
detections of the copy fine-tuned on the video's training keypoints and masks
(:func:`smal4v.train.detector_adaptation.adapt_detector`, as ``encode_features`` runs it): PCK
(sqrt area) on every frame whose keypoints training did not see, overall and per part, and the
adaptation's time per video. Means over the videos, then mean ± std over the runs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch
import yaml
from keypoint_head import detections_pck
from online_settings import merged, parse_variant
from workflow_runs import ROOT, mean_and_spread, report_header, write_report

from smal4v.data.artifacts import read_artifact
from smal4v.model import load_keypoint_set, load_model
from smal4v.train.detector_adaptation import adapt_detector
from smal4v.train.single_frame import encode_and_detect, load_single_frame_net
from smal4v.train.stages import per_video_targets

CELLS = ["pck@0.1_sqrt_area", "pck@0.15_sqrt_area", "pck@0.15_sqrt_area_legs"]


def score_run(run: Path, variants: list[tuple[str, dict]], seed: int) -> tuple[pd.DataFrame, dict[str, float]]:
    """(row = detector, column = cell) means over RUN's test videos, and each variant's seconds per video."""
    model, kps = load_model("procedural"), load_keypoint_set("badja20")
    parent = load_single_frame_net(run / "models" / "parent.pt", model)
    defaults = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["detector_adaptation"]
    rows, seconds = [], {name: [] for name, _ in variants}
    for seq in sorted(p.parent for p in (run / "sequences").glob("*/features.h5")):
        crops = read_artifact(seq / "frames.h5", "frames", ["crops"])["crops"]
        keypoints, masks, _ = per_video_targets(str(seq / "frames.h5"), str(seq / "annotations.h5"), str(seq / "silhouettes.h5"))
        detectors = {"parent (not adapted)": parent}
        for name, update in variants:
            start = time.perf_counter()
            detectors[name] = adapt_detector(parent, model, kps, crops, keypoints, masks, merged(defaults, update), seed, seq.name)
            seconds[name].append(time.perf_counter() - start)
        for name, net in detectors.items():
            xy = encode_and_detect(net, crops)[1].xy.numpy()
            rows.append({"detector": name, **{m: v for (m, _), v in detections_pck(xy, seq, dict(kps.parts)).items()}})
    table = pd.DataFrame(rows).groupby("detector", sort=False)[CELLS].mean()
    return table, {name: sum(t) / len(t) for name, t in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, action="append", required=True, help="finished runs whose parent has a keypoint head")
    parser.add_argument("--variant", action="append", required=True, metavar="NAME=YAML")
    parser.add_argument("--seed", type=int, default=0, help="the adaptation's seed")
    parser.add_argument("--out", default="benchmarks/results/detector_adaptation.md")
    parser.add_argument("--note", default="")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (1 beside another run on 2 cores)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    variants = [parse_variant(v) for v in args.variant]
    tables, times = zip(*(score_run(run, variants, args.seed) for run in args.run))
    command = ("python benchmarks/detector_adaptation.py " + " ".join(f"--run {r}" for r in args.run)
               + "".join(f" --variant '{v}'" for v in args.variant) + f" --seed {args.seed} --threads {args.threads} --out {args.out}")
    title = "The parent's keypoint detections adapted to each test video (frames whose keypoints training did not see)"
    seconds = "; ".join(f"{name}: " + ", ".join(f"{t[name]:.1f} s" for t in times) for name, _ in variants)
    write_report(args.out, report_header(title, command, args.note) + [
        "PCK (sqrt area) of the detections themselves on every frame whose keypoints training did not see; means over "
        f"each run's test videos, then over the {len(tables)} run(s). Adaptation time per video ({args.threads} torch threads): "
        f"{seconds}.", "", mean_and_spread(list(tables)).to_markdown(), ""])


if __name__ == "__main__":
    main()
