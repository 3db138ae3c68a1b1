"""Benchmark: the parent network under other settings, on finished synthetic workflow runs.

    python benchmarks/parent_settings.py --config config/config.yaml --config config/benchmark.yaml \\
        --run benchmarks/work/synthetic/seed1=1 [--run DIR=SEED ...] \\
        --variant 'config={}' --variant '300 steps={parent: {epochs: 10}}' --out benchmarks/results/X.md \\
        [--threads 1]

For each run (a finished ``snakemake --config results=DIR seed=SEED`` of the merged ``--config``
files) and each ``--variant NAME=YAML`` (the workflow config updated by YAML, nested keys keep the
rest: ``parent:`` training settings, ``keypoint_fit:``), it retrains the parent from the run's
base network (or, for a variant that changes ``base:``, from a base retrained from scratch on the
run's generic set as rule ``train_base`` trains it) on the run's parent training set (its training videos' annotated frames and the
rehearsed generic set), predicts every test video as rule ``predict`` does (fitted to the keypoint
head's detections with the variant's ``keypoint_fit``) and scores it as ``evaluate`` does. Cells
are the mean ± std over runs of each run's mean over its test videos; the run's own ``parent``
is the reference column. Two torch threads (``--threads``), as rule ``train_parent``: ``config={}`` retrains the
run's parent with the same per-epoch losses; its scores differ from the run's within float noise,
as rule ``predict`` fits on one thread (seed 1: PCK@0.1 0.600 against 0.598).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from c2f_settings import generic_images, run_files, training_set  # noqa: E402
from online_settings import merged, parse_variant, workflow_config  # noqa: E402
from synthetic import spread_table  # noqa: E402
from workflow_runs import machine, write_report  # noqa: E402

from smal4v.data.sheet import load_sequence_sheet, sequences_in_split
from smal4v.evaluate.stage import evaluate_sequence
from smal4v.model import load_keypoint_set
from smal4v.train.config import split_parent_config
from smal4v.train.stages import base_dataset, predict_variant, train_network

ROOT = Path(__file__).resolve().parents[1]
CELLS = [("pck@0.1_sqrt_area", "unseen"), ("pck@0.15_sqrt_area", "unseen"), ("pck@0.15_sqrt_area_legs", "unseen"),
         ("pck@0.1_sqrt_area", "heldout"), ("iou", "unseen"), ("mpvpe", "all"), ("pa_mpvpe", "all")]
"""``unseen``: every frame whose keypoints training did not see; ``heldout``: the held-out annotated frames."""


def base_network(results: Path, sheet: dict, config: dict, cfg: dict, seed: int, out: Path) -> str:
    """The run's own base network, or, where ``cfg`` changes ``base`` or ``network`` from the run's
    ``config``, one trained from scratch in ``out`` on the run's generic set as rule ``train_base`` does."""
    if all(cfg[key] == config[key] for key in ("base", "network")):
        return str(results / "models" / "base.pt")
    dataset = base_dataset(run_files(results, sheet, "generic", "frames.h5"),
                           run_files(results, sheet, "generic", "ground_truth.h5"), generic_images(results))
    train_network(dataset, cfg["network"], cfg["base"], cfg["model"], cfg["keypoint_set"], seed, "cpu",
                  str(out / "base.pt"), str(out / "base.csv"), str(out / "base.png"))
    return str(out / "base.pt")


def run_metrics(results: Path, seed: int, config: dict, name: str, update: dict, work: Path) -> tuple[pd.DataFrame, float]:
    """Tidy metrics of one run's test videos (its own ``parent`` and the retrained one, as variant
    ``name``) and the retraining's wall time (s, the base's included where it is retrained)."""
    cfg = merged(config, update)
    sheet = load_sequence_sheet(ROOT / config["sequences"], results=str(results))
    train_cfg, rehearsal = split_parent_config(dict(cfg["parent"]))
    out = work / f"{results.name}_{name.replace('/', '_')}"
    out.mkdir(parents=True)
    start = time.perf_counter()
    base = base_network(results, sheet, config, cfg, seed, out)
    train_network(training_set(results, sheet, rehearsal), cfg["network"], train_cfg, cfg["model"], cfg["keypoint_set"],
                  seed, "cpu", str(out / "parent.pt"), str(out / "parent.csv"), str(out / "parent.png"), init=base)
    seconds = time.perf_counter() - start
    parts = load_keypoint_set(cfg["keypoint_set"]).parts
    tables = []
    for seq in sequences_in_split(sheet, "test"):
        d = results / "sequences" / seq
        mine = str(out / f"{seq}_parent.h5")
        predict_variant(str(out / "parent.pt"), str(d / "frames.h5"), cfg["model"], cfg["keypoint_set"], name, "cpu",
                        mine, "benchmark", cfg["keypoint_fit"])
        predictions = {"parent": str(d / "predictions_parent.h5"), name: mine}
        tables.append(evaluate_sequence(seq, predictions, d / "annotations.h5", d / "ground_truth.h5", [0.1, 0.15], parts))
    return pd.concat(tables), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", action="append", help="config file(s) merged in order (default config/config.yaml)")
    parser.add_argument("--run", action="append", required=True, metavar="DIR=SEED", help="a finished run and its seed")
    parser.add_argument("--variant", action="append", required=True, metavar="NAME=YAML")
    parser.add_argument("--out", required=True)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (1 beside another run on 2 cores)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.config = args.config or ["config/config.yaml"]
    config = workflow_config(args.config)
    runs = [(ROOT / d, int(s)) for d, _, s in (r.partition("=") for r in args.run)]
    names, per_run, seconds = [], {seed: [] for _, seed in runs}, {}
    with tempfile.TemporaryDirectory() as work:
        for text in args.variant:
            name, update = parse_variant(text)
            names.append(name)
            for results, seed in runs:
                table, s = run_metrics(results, seed, config, name, update, Path(work))
                per_run[seed].append(table)  # the run's own parent comes once per variant, the same each time
                seconds[name] = seconds.get(name, 0.0) + s / len(runs)
    means = {seed: pd.concat(t).groupby(["variant", "metric", "split"]).value.mean().reset_index()
             for seed, t in per_run.items()}
    table = spread_table(means, CELLS, ["parent", *names])
    command = " ".join(["python benchmarks/parent_settings.py", *[f"--config {c}" for c in args.config],
                        *[f"--run {r}" for r in args.run], *[f"--variant '{v}'" for v in args.variant],
                        "--out", args.out, "--threads", str(args.threads)])
    lines = [f"# The parent under other settings ({', '.join(args.config)})", "",
             f"- date: {dt.datetime.now().isoformat(timespec='seconds')}", f"- machine: {machine()}",
             f"- command: `{command}`",
             f"- {len(runs)} run(s); each cell is mean ± std over runs of the mean over a run's test videos; "
             "`parent`: the run's own; the others retrained from the run's base, or from a base retrained from "
             f"scratch where the variant changes `base` or `network` ({args.threads} torch threads)",
             "- training wall time per run: " + ", ".join(f"{n}: {s:.0f} s" for n, s in seconds.items()), "",
             table.to_markdown(), ""]
    write_report(args.out, lines)


if __name__ == "__main__":
    main()
