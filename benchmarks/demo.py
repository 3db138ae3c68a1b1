"""Benchmark: the default demo from a clean results folder; wall time, peak memory, metrics.

    python benchmarks/demo.py [--cores N] [--results benchmarks/work/demo]

Writes benchmarks/results/demo.md: machine, command, wall time, the largest resident memory of
any job process, per-rule wall times, the mean metrics per variant and the issue's targets.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil

import pandas as pd
from workflow_runs import ROOT, git_commit, machine, rule_times, run_snakemake
HEADLINE = [("pck@0.1_sqrt_area", "heldout"), ("pck@0.1_sqrt_area", "unseen"), ("pck@0.15_sqrt_area", "unseen"),
            ("pck@0.1_bbox", "heldout"), ("iou", "all"), ("iou", "unseen"), ("jitter", "all"), ("accel_error", "all"), ("mpvpe", "all"),
            ("pa_mpvpe", "all"), ("joint_angle_error_deg", "all")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cores", default="all")
    parser.add_argument("--results", default="benchmarks/work/demo")
    args = parser.parse_args()
    results = ROOT / args.results
    shutil.rmtree(results, ignore_errors=True)
    command = ["snakemake", "--cores", str(args.cores), "--config", f"results={args.results}"]
    wall, peak_mb, log = run_snakemake(command, results / "snakemake.log")
    means = pd.read_csv(results / "summary" / "metrics_mean.csv")
    table = pd.DataFrame({variant: {f"{m} ({s})": means[(means.variant == variant) & (means.metric == m) & (means.split == s)]["value"].mean()
                                    for m, s in HEADLINE} for variant in means.variant.unique()})
    v = {name: table[name] for name in table.columns}
    checks = {
        "whole demo <= 10 min": wall <= 600,
        "online > parent on held-out PCK@0.1": v["online"]["pck@0.1_sqrt_area (heldout)"] > v["parent"]["pck@0.1_sqrt_area (heldout)"],
        "online > parent on IoU": v["online"]["iou (all)"] > v["parent"]["iou (all)"],
        "online jitter <= 0.5 x parent's": v["online"]["jitter (all)"] <= 0.5 * v["parent"]["jitter (all)"],
        "online 3D vertex error < parent's": v["online"]["pa_mpvpe (all)"] < v["parent"]["pa_mpvpe (all)"],
        "parent > base on held-out PCK@0.1": v["parent"]["pck@0.1_sqrt_area (heldout)"] > v["base"]["pck@0.1_sqrt_area (heldout)"],
    }
    lines = [
        "# Demo benchmark",
        "",
        f"- date: {dt.datetime.now().isoformat(timespec='seconds')}",
        f"- machine: {machine()}, commit {git_commit()}",
        f"- command: `{' '.join(command)}` (from a clean results folder; `python benchmarks/demo.py`)",
        f"- wall time: {wall:.0f} s",
        f"- peak resident memory of the largest job process: {peak_mb:.0f} MB",
        "",
        "## Mean metrics over the test videos",
        "",
        "PCK on held-out annotated frames (`heldout`) and on every frame whose keypoints training did not",
        "see (`unseen`, from the dense synthetic truth); IoU against the ground-truth mask of every frame",
        "(`all`) and of the frames whose masks were not given (`unseen`); jitter = mean keypoint",
        "acceleration (px/frame^2); mpvpe / pa_mpvpe = vertex error without / after Procrustes alignment",
        "(model units, animal ~1 unit long); joint angle error in degrees. One seed: see",
        "`benchmarks/results/synthetic_demo_profile.md` for the spread over seeds.",
        "",
        table.to_markdown(floatfmt=".3f"),
        "",
        "## Targets (issue 3)",
        "",
        *[f"- [{'x' if ok else ' '}] {name}" for name, ok in checks.items()],
        "",
        "## Wall time per rule",
        "",
        rule_times(log).to_markdown(index=False, floatfmt=".0f"),
        "",
    ]
    out = ROOT / "benchmarks" / "results" / "demo.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
