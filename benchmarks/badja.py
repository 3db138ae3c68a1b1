"""Benchmark: the full-schedule workflow on a real BADJA/DAVIS video (camel or cows).

Run from the repository root: ``python benchmarks/badja.py --fresh [--cores all]`` (camel), or
``python benchmarks/badja.py --fresh --config config/badja.yaml --config config/badja_cows.yaml
--sequence cows --out benchmarks/results/badja_cows.md`` (cows with the settings chosen on camel).

Runs ``snakemake --configfile config/badja.yaml`` stage by stage (``--until <rule>`` in
workflow order, each call timed, so the wall time of a call is the time of that stage's jobs
plus Snakemake's start-up, measured separately as a no-op run), then writes
``benchmarks/results/badja.md`` with held-out PCK@0.1 (sqrt area), PCK per part, IoU against
every DAVIS mask, jitter and the stage times, and copies the online variant's overlay GIF to
``benchmarks/results/badja_overlay.gif`` (git-ignored: it shows DAVIS frames; the markdown
file holds only numbers).

``--set key=value`` passes Snakemake ``--config`` overrides (YAML values, merged into the
config), e.g. ``--set 'base={epochs: 1}'`` for a smoke run; the report lists them.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from smal4v.data.artifacts import read_artifact  # noqa: E402

STAGES = ["make_demo_sequence", "import_annotations", "extract_frames", "densify_silhouettes", "train_base",
          "train_parent", "encode_features", "predict", "train_online_single", "train_online", "refine", "evaluate",
          "aggregate_metrics", "render_overlays"]
"""Workflow rules in dependency order (those the workflow lacks are skipped)."""
ALPHA_METRIC = "pck@0.1_sqrt_area"
TARGET = {"pck": 0.8, "iou": 0.8}


def snakemake_cmd(args: argparse.Namespace, *extra: str) -> list[str]:
    cmd = [sys.executable, "-m", "snakemake", "--cores", args.cores, "--configfile", *args.config]
    if args.set:
        cmd += ["--config", *args.set]
    return cmd + list(extra)


def run_timed(cmd: list[str], log: Path) -> tuple[float, int]:
    """Run ``cmd`` in the repo root, appending its output to ``log``; (seconds, exit code)."""
    t0 = time.perf_counter()
    with open(log, "a") as fh:
        fh.write(f"\n$ {' '.join(cmd)}\n")
        fh.flush()
        rc = subprocess.run(cmd, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT).returncode
    return time.perf_counter() - t0, rc


def workflow_rules(args: argparse.Namespace) -> list[str]:
    out = subprocess.run(snakemake_cmd(args, "--list-rules"), cwd=REPO, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"snakemake --list-rules failed:\n{out.stderr[-3000:]}")
    return [line.strip() for line in out.stdout.splitlines() if re.fullmatch(r"[A-Za-z_]\w*", line.strip())]


def merged_value(configs: list[str], key: str) -> object:
    """``key`` as Snakemake merges config/config.yaml and then ``configs`` in order (later wins)."""
    value = yaml.safe_load((REPO / "config" / "config.yaml").read_text()).get(key)
    for path in configs:
        value = (yaml.safe_load((REPO / path).read_text()) or {}).get(key, value)
    return value


def results_dir(configs: list[str]) -> Path:
    return REPO / str(merged_value(configs, "results"))


def run_workflow(args: argparse.Namespace, results: Path, log: Path) -> list[tuple[str, float, int]]:
    """Stage-by-stage run; returns (stage, seconds, exit code), stopping at the first failure."""
    available = set(workflow_rules(args))
    timings = []
    for stage in [s for s in STAGES if s in available] + ["all"]:
        extra = [] if stage == "all" else ["--until", stage]
        seconds, rc = run_timed(snakemake_cmd(args, *extra), log)
        timings.append((stage, seconds, rc))
        print(f"{stage:22s} {seconds:9.1f} s  rc={rc}", flush=True)
        if rc != 0:
            break
    else:
        seconds, rc = run_timed(snakemake_cmd(args), log)  # nothing left to do: Snakemake's own overhead
        timings.append(("(no-op run: Snakemake start-up)", seconds, rc))
    return timings


def metric_tables(results: Path, sequence: str) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """(per-variant summary, per-part held-out PCK, number of DAVIS masks scored)."""
    table = pd.read_csv(results / "sequences" / sequence / "metrics.csv")
    table = table[table.sequence == sequence]

    def pick(metric: str, split: str) -> pd.Series:
        rows = table[(table.metric == metric) & (table.split == split)]
        return rows.set_index("variant")["value"]

    summary = pd.DataFrame({
        "PCK@0.1 held-out": pick(ALPHA_METRIC, "heldout"),
        "PCK@0.1 train frames": pick(ALPHA_METRIC, "train"),
        "IoU (all DAVIS masks)": pick("iou", "all"),
        "IoU (masks not given)": pick("iou", "unseen"),
        "jitter (px/frame²)": pick("jitter", "all"),
    })
    parts = table[(table.split == "heldout") & table.metric.str.startswith(ALPHA_METRIC + "_")]
    per_part = parts.assign(part=parts.metric.str[len(ALPHA_METRIC) + 1:]).pivot(
        index="variant", columns="part", values="value").reindex(summary.index)
    gt = read_artifact(results / "sequences" / sequence / "ground_truth.h5", "ground_truth", ["has_mask"])
    return summary, per_part, int(gt["has_mask"].sum())


def device_line() -> str:
    try:
        import torch
        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA"
        return f"torch {torch.__version__}, {gpu}"
    except Exception as exc:  # noqa: BLE001
        return f"torch unavailable ({exc})"


def git_commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    return out.stdout.strip() + (" (uncommitted changes)" if dirty else "")


def fmt_table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| variant | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for variant, row in df.iterrows():
        lines.append(f"| {variant} | " + " | ".join("n/a" if pd.isna(v) else f"{v:.3f}" for v in row) + " |")
    return "\n".join(lines)


def write_report(out: Path, args: argparse.Namespace, timings: list[tuple[str, float, int]],
                 results: Path, gif: Path | None) -> None:
    failed = [t for t in timings if t[2] != 0]
    lines = [
        f"# BADJA {args.sequence} benchmark", "",
        f"`python benchmarks/badja.py` on {datetime.date.today().isoformat()}, commit {git_commit()}; "
        f"config {', '.join(f'`{c}`' for c in args.config)}{' with ' + ', '.join(f'`{s}`' for s in args.set) if args.set else ''}; "
        f"`--cores {args.cores}`; {platform.node()} ({platform.processor() or platform.machine()}), {device_line()}.",
        "",
        f"Data: DAVIS-2016 `{args.sequence}` 480p with its BADJA keypoints: every other annotated frame "
        "trains, the rest are held out. PCK@0.1: a keypoint is correct within 0.1 x sqrt(DAVIS mask area) "
        "of the annotation. IoU: mean over every frame with a DAVIS mask, and over the frames whose mask "
        "the method was not given. `keypoints_interpolated`: the training keypoints joined by straight "
        "lines in time, the reference a temporal method must beat.", "",
        "## Stage wall times", "", "| stage | wall time (s) | exit |", "|---|---|---|",
        *[f"| {s} | {t:.1f} | {rc} |" for s, t, rc in timings],
        f"| **total** | **{sum(t for s, t, _ in timings if not s.startswith('(')):.1f}** | |", "",
    ]
    if failed:
        lines += [f"**The run failed at stage `{failed[0][0]}`**; see `{args.log.relative_to(REPO)}`.", ""]
    else:
        summary, per_part, n_masks = metric_tables(results, args.sequence)
        lines += ["## Metrics", "", f"IoU against all {n_masks} DAVIS masks "
                  f"(the methods were given the mask of every {mask_every(args)}th frame).", "", fmt_table(summary), "",
                  "### Held-out PCK@0.1 per part", "", fmt_table(per_part), ""]
        for variant in ("online", "refined"):  # the temporal network, and it refined (the final output)
            if variant not in summary.index:
                continue
            on = summary.loc[variant]
            better = all(ref in summary.index and on["PCK@0.1 held-out"] > summary.loc[ref, "PCK@0.1 held-out"]
                         for ref in ("parent", "keypoints_interpolated"))
            ok = on["PCK@0.1 held-out"] >= TARGET["pck"] and on["IoU (masks not given)"] >= TARGET["iou"] and better
            lines += [f"Target for `{variant}` (held-out PCK@0.1 >= {TARGET['pck']}, IoU on the masks not given "
                      f">= {TARGET['iou']}, better than the parent and than the 2D interpolation of the training "
                      f"keypoints): **{'met' if ok else 'not met'}**.", ""]
    if gif is not None:
        lines += [f"Overlay GIF (not committed, holds DAVIS frames): `{gif.relative_to(REPO)}`.", ""]
    out.write_text("\n".join(lines))
    print(f"wrote {out}")


def mask_every(args: argparse.Namespace) -> int:
    return int((merged_value(args.config, "annotations") or {}).get("mask_every", 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", action="append", help="config file(s) merged in order (default config/badja.yaml)")
    ap.add_argument("--sequence", default="camel", help="the sheet's BADJA video to report")
    ap.add_argument("--cores", default="all")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="Snakemake --config override")
    ap.add_argument("--out", default="benchmarks/results/badja.md")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--fresh", action="store_true", help="delete the config's results folder first (full timing)")
    group.add_argument("--keep", action="store_true", help="reuse existing results (stage times then exclude them)")
    args = ap.parse_args()
    args.config = args.config or ["config/badja.yaml"]
    if not (REPO.parent / "shared" / "data" / "badja-davis").is_dir():
        raise SystemExit("the BADJA/DAVIS data is missing: expected ../shared/data/badja-davis (docs/REAL_DATA.md)")
    results = results_dir(args.config)
    if results.exists() and not args.keep:
        if not args.fresh:
            raise SystemExit(f"{results} exists: pass --fresh to delete it (full timing) or --keep to reuse it")
        print(f"deleting {results}")
        shutil.rmtree(results)
    results.mkdir(parents=True, exist_ok=True)
    log = args.log = results / "benchmark_snakemake.log"
    log.write_text("")
    timings = run_workflow(args, results, log)
    gif_src = results / "sequences" / args.sequence / "overlay.gif"
    gif = None
    if gif_src.is_file():
        gif = REPO / "benchmarks" / "results" / f"badja_{args.sequence}_overlay.gif"
        shutil.copyfile(gif_src, gif)
    write_report(REPO / args.out, args, timings, results, gif)


if __name__ == "__main__":
    main()
