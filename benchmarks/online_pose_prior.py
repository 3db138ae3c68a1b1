"""Benchmark: the online networks' pose-prior weight, 2D fit against 3D plausibility.

    python benchmarks/online_pose_prior.py [--results benchmarks/work/demo] [--weights 0.1 0.3 1.0]

Needs a finished demo run in ``--results`` (``python benchmarks/demo.py``). For each weight it
retrains the ``online`` variant of every test video from that run's parent and features (the
config's ``online`` settings, only ``weights.pose_prior`` changed), evaluates it like the
workflow does and writes the mean held-out PCK@0.1, IoU, jitter, Procrustes vertex error and
joint-angle error, beside the parent's, to ``benchmarks/results/online_pose_prior.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

import pandas as pd
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo import machine  # noqa: E402

from smal4v.data.sheet import load_sequence_sheet, sequences_in_split
from smal4v.evaluate.stage import evaluate_sequence
from smal4v.model import load_keypoint_set
from smal4v.train.stages import online_sequence_data, predictions_artifact, train_online_variant

ROOT = Path(__file__).resolve().parents[1]
METRICS = [("pck@0.1_sqrt_area", "heldout"), ("iou", "all"), ("jitter", "all"), ("pa_mpvpe", "all"),
           ("joint_angle_error_deg", "all")]


def online_metrics(results: Path, config: dict, weight: float, work: Path) -> pd.DataFrame:
    """Tidy metrics of ``online`` retrained with ``pose_prior = weight`` on every test video."""
    cfg = {**config["online"], "weights": {**config["online"].get("weights", {}), "pose_prior": weight}}
    keypoints = load_keypoint_set(config["keypoint_set"])
    sheet = load_sequence_sheet(ROOT / config["sequences"], results=str(results))
    tables = []
    for seq in sequences_in_split(sheet, "test"):
        d = results / "sequences" / seq
        data = online_sequence_data(str(d / "features.h5"), str(d / "frames.h5"), str(d / "annotations.h5"),
                                    str(d / "silhouettes.h5"), seq)
        out = work / f"{seq}_{weight}"
        params, offsets = train_online_variant(str(results / "models" / "parent.pt"), data, cfg, config["model"],
                                               config["keypoint_set"], config["seed"], "cpu", f"{out}.pt", f"{out}.csv",
                                               f"{out}.png")
        predictions_artifact(params, str(d / "frames.h5"), config["model"], config["keypoint_set"], "online",
                             f"{out}.h5", "benchmark", offsets)
        predictions = {f"online, pose_prior {weight:g}": f"{out}.h5", "parent": str(d / "predictions_parent.h5")}
        tables.append(evaluate_sequence(seq, predictions, d / "annotations.h5", d / "ground_truth.h5", [0.1],
                                        keypoints.parts))
    return pd.concat(tables)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", default="benchmarks/work/demo")
    parser.add_argument("--weights", type=float, nargs="+", default=[0.1, 0.3, 1.0])
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; 1 = what the train_online rule gets (Snakemake sets OMP_NUM_THREADS to "
                             "the rule's threads), so the pose prior of the config reproduces the workflow's numbers")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = ROOT / args.results
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    with tempfile.TemporaryDirectory() as work:
        table = pd.concat([online_metrics(results, config, w, Path(work)) for w in args.weights])
    table = table.drop_duplicates(["sequence", "variant", "metric", "split"])
    rows = []
    for metric, split in METRICS:
        sel = table[(table.metric == metric) & (table.split == split)]
        rows.append(sel.groupby("variant").value.mean().rename(f"{metric} ({split})"))
    summary = pd.DataFrame(rows)
    command = (f"python benchmarks/online_pose_prior.py --results {args.results} "
               f"--weights {' '.join(map(str, args.weights))} --threads {args.threads}")
    lines = ["# Online networks: pose-prior weight", "", f"- date: {dt.datetime.now().isoformat(timespec='seconds')}",
             f"- machine: {machine()}", f"- command: `{command}`",
             "- means over the demo's test videos; the rest of the `online` config unchanged", "",
             summary.to_markdown(floatfmt=".3f"), ""]
    out = ROOT / "benchmarks" / "results" / "online_pose_prior.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
