"""Benchmark: the default demo from a clean results folder; wall time, peak memory, metrics.

    python benchmarks/demo.py [--cores N] [--results benchmarks/work/demo]

Writes benchmarks/results/demo.md: machine, command, wall time, the largest resident memory of
any job process, per-rule wall times, the mean metrics per variant and the issue's targets.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
HEADLINE = [("pck@0.1_sqrt_area", "heldout"), ("pck@0.1_bbox", "heldout"), ("iou", "all"), ("jitter", "all"),
            ("pa_mpvpe", "all"), ("joint_angle_error_deg", "all")]


def machine() -> str:
    """CPU model, core count, Python and torch versions."""
    import torch

    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}"


def rule_times(log: str) -> pd.DataFrame:
    """Per-rule summed wall time from the Snakemake log's start/finish timestamps."""
    started: dict[str, tuple[str, dt.datetime]] = {}
    rows, stamp, rule = [], None, None
    for line in log.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            stamp = dt.datetime.strptime(line[1:-1], "%a %b %d %H:%M:%S %Y")
        elif line.startswith(("rule ", "localrule ")):
            rule = line.split()[1].rstrip(":")
        elif line.startswith("jobid:") and rule and stamp:
            started[line.split()[1]] = (rule, stamp)
        elif line.startswith("Finished jobid:") and stamp:
            jobid = line.split()[2]
            if jobid in started:
                name, t0 = started.pop(jobid)
                rows.append((name, (stamp - t0).total_seconds()))
    table = pd.DataFrame(rows, columns=["rule", "seconds"])
    return table.groupby("rule").agg(jobs=("seconds", "size"), total_s=("seconds", "sum"), max_s=("seconds", "max")).reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cores", default="all")
    parser.add_argument("--results", default="benchmarks/work/demo")
    args = parser.parse_args()
    results = ROOT / args.results
    shutil.rmtree(results, ignore_errors=True)
    command = ["snakemake", "--cores", str(args.cores), "--config", f"results={args.results}"]
    t0 = time.time()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.time() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    (results / "snakemake.log").parent.mkdir(parents=True, exist_ok=True)
    (results / "snakemake.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        sys.exit(f"snakemake failed ({proc.returncode}); see {results / 'snakemake.log'}")
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
        f"- machine: {machine()}",
        f"- command: `{' '.join(command)}` (from a clean results folder; `python benchmarks/demo.py`)",
        f"- wall time: {wall:.0f} s",
        f"- peak resident memory of the largest job process: {peak_mb:.0f} MB",
        "",
        "## Mean metrics over the test videos",
        "",
        "PCK on held-out annotated frames (never seen in training); IoU against the ground-truth mask of",
        "every frame; jitter = mean keypoint acceleration (px/frame^2); pa_mpvpe = vertex error after",
        "Procrustes alignment (model units, animal ~1 unit long); joint angle error in degrees.",
        "",
        table.to_markdown(floatfmt=".3f"),
        "",
        "## Targets (issue 3)",
        "",
        *[f"- [{'x' if ok else ' '}] {name}" for name, ok in checks.items()],
        "",
        "## Wall time per rule",
        "",
        rule_times(proc.stdout + proc.stderr).to_markdown(index=False, floatfmt=".0f"),
        "",
    ]
    out = ROOT / "benchmarks" / "results" / "demo.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
