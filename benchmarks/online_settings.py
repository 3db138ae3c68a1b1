"""Benchmark: the online network under other settings, on a finished workflow run.

    python benchmarks/online_settings.py --config config/badja.yaml [--config ...] --results results/badja \\
        --variant 'no offsets={shape_offsets: false}' --variant 'config={}' --out benchmarks/results/X.md

Needs a finished run of ``--config`` in ``--results`` (its parent network and features). For
each ``--variant NAME=YAML`` it retrains the ``online`` variant (``--stage online_single`` for
the ablation) of every test video from that run's parent and features with the config's
settings updated by YAML (nested keys keep the rest; a ``detector_adaptation`` key re-adapts the
parent's keypoint detector with the config's ``detector_adaptation`` updated by it, for
online's ``head_detections`` targets), evaluates it as the workflow does and
writes the mean held-out PCK@0.1, IoU, jitter and, on synthetic data, Procrustes vertex error
and joint-angle error, beside the parent's, to ``--out``. Each retraining runs with one torch
thread, as the rule does (Snakemake sets OMP_NUM_THREADS from ``threads: 1``), so the
unchanged config reproduces the workflow's own numbers; ``--jobs`` trains variants side by side.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo import machine  # noqa: E402
from workflow_runs import write_report  # noqa: E402

from smal4v.data.sheet import load_sequence_sheet, sequences_in_split
from smal4v.evaluate.stage import evaluate_sequence
from smal4v.data.artifacts import read_artifact
from smal4v.model import load_keypoint_set, load_model
from smal4v.train.single_frame import encode_and_detect, load_single_frame_net
from smal4v.train.stages import online_sequence_data, predictions_artifact, train_online_variant, video_detections

ROOT = Path(__file__).resolve().parents[1]
METRICS = [("pck@0.1_sqrt_area", "train"), ("pck@0.1_sqrt_area", "heldout"), ("pck@0.1_sqrt_area", "unseen"), ("iou", "all"), ("iou", "unseen"), ("jitter", "all"), ("accel_error", "all"), ("pa_mpvpe", "all"),
           ("joint_angle_error_deg", "all")]


def merged(base: dict, update: dict) -> dict:
    """``base`` with ``update`` merged in key by key (nested mappings too), as Snakemake merges configs."""
    out = dict(base)
    for key, value in update.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def workflow_config(paths: list[str]) -> dict:
    """The demo config with ``paths`` merged over it in order, as ``snakemake --configfile`` sees them."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    for path in paths:
        if Path(path) != Path("config/config.yaml"):
            config = merged(config, yaml.safe_load((ROOT / path).read_text()))
    return config


def variant_metrics(results: Path, config: dict, stage: str, name: str, update: dict, work: Path) -> pd.DataFrame:
    """Tidy metrics of ``stage`` retrained with its settings updated by ``update`` on every test video;
    a ``detector_adaptation`` key in ``update`` re-adapts the detector with those settings first."""
    torch.set_num_threads(1)
    adaptation = update.get("detector_adaptation")
    cfg = merged(config[stage], {k: v for k, v in update.items() if k != "detector_adaptation"})
    keypoints = load_keypoint_set(config["keypoint_set"])
    sheet = load_sequence_sheet(ROOT / config["sequences"], results=str(results))
    swaps = [(keypoints.names.index(a), keypoints.names.index(b)) for a, b in config["evaluate"].get("interchangeable", [])]
    tables = []
    for seq in sequences_in_split(sheet, "test"):
        d = results / "sequences" / seq
        detections = None if adaptation is None else readapted_detections(
            results, d, config, merged(config["detector_adaptation"], adaptation))
        data = online_sequence_data(str(d / "features.h5"), str(d / "frames.h5"), str(d / "annotations.h5"),
                                    str(d / "silhouettes.h5"), seq, detections)
        out = work / name.replace("/", "_") / seq
        out.parent.mkdir(parents=True, exist_ok=True)
        params, offsets = train_online_variant(str(results / "models" / "parent.pt"), data, cfg, config["model"],
                                               config["keypoint_set"], config["seed"], "cpu", f"{out}.pt", f"{out}.csv",
                                               f"{out}.png")
        predictions_artifact(params, str(d / "frames.h5"), config["model"], config["keypoint_set"], stage,
                             f"{out}.h5", "benchmark", offsets)
        predictions = {name: f"{out}.h5", "parent": str(d / "predictions_parent.h5")}
        tables.append(evaluate_sequence(seq, predictions, d / "annotations.h5", d / "ground_truth.h5", [0.1],
                                        keypoints.parts, swaps))
    return pd.concat(tables)


def readapted_detections(results: Path, seq_dir: Path, config: dict, adaptation: dict) -> np.ndarray:
    """The video's online detection targets from the run's parent adapted with ``adaptation``
    (``config/config.yaml``'s ``detector_adaptation`` keys), as ``encode_features`` makes them."""
    model = load_model(config["model"])
    net = load_single_frame_net(str(results / "models" / "parent.pt"), model)
    crops = read_artifact(str(seq_dir / "frames.h5"), "frames", ["crops"])["crops"]
    detected = encode_and_detect(net, crops)[1]
    return video_detections(net, model, crops, detected, str(seq_dir / "frames.h5"), adaptation,
                            str(seq_dir / "annotations.h5"), str(seq_dir / "silhouettes.h5"), config["keypoint_set"],
                            config["seed"])


def parse_variant(text: str) -> tuple[str, dict]:
    name, sep, update = text.partition("=")
    value = yaml.safe_load(update) if sep else None
    if not name or not isinstance(value, dict):
        raise SystemExit(f"--variant {text!r}: expected NAME={{yaml mapping}}, e.g. 'no offsets={{shape_offsets: false}}'")
    return name, value


def summary_table(table: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    table = table.drop_duplicates(["sequence", "variant", "metric", "split"])
    rows = []
    for metric, split in METRICS:
        sel = table[(table.metric == metric) & (table.split == split)]
        if len(sel):
            rows.append(sel.groupby("variant").value.mean().rename(f"{metric} ({split})"))
    return pd.DataFrame(rows)[[v for v in order + ["parent"] if v in table.variant.unique()]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", action="append", help="config file(s) merged in order (default config/config.yaml)")
    parser.add_argument("--results", required=True, help="a finished run of --config")
    parser.add_argument("--stage", default="online", choices=["online", "online_single"])
    parser.add_argument("--variant", action="append", required=True, metavar="NAME=YAML")
    parser.add_argument("--seed", type=int, default=None, help="the run's seed (its --config seed=S); default: the config's")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    args.config = args.config or ["config/config.yaml"]
    variants = [parse_variant(v) for v in args.variant]
    config = workflow_config(args.config)
    if args.seed is not None:
        config["seed"] = args.seed
    results = ROOT / args.results
    with tempfile.TemporaryDirectory() as work, ProcessPoolExecutor(args.jobs) as pool:
        jobs = [pool.submit(variant_metrics, results, config, args.stage, name, update, Path(work))
                for name, update in variants]
        table = pd.concat([job.result() for job in jobs])
    summary = summary_table(table, [name for name, _ in variants])
    command = " ".join(["python benchmarks/online_settings.py", *[f"--config {c}" for c in args.config], "--results", args.results,
                        "--stage", args.stage, *([f"--seed {args.seed}"] if args.seed is not None else []),
                        *[f"--variant '{v}'" for v in args.variant], "--jobs", str(args.jobs),
                        "--out", args.out])
    lines = [f"# `{args.stage}` under other settings ({', '.join(args.config)})", "",
             f"- date: {dt.datetime.now().isoformat(timespec='seconds')}", f"- machine: {machine()}",
             f"- command: `{command}`",
             f"- means over the test videos of `{args.results}`; each variant = the config's `{args.stage}` "
             "settings updated by its YAML; one torch thread per training", "",
             summary.to_markdown(floatfmt=".3f"), ""]
    write_report(args.out, lines)


if __name__ == "__main__":
    main()
