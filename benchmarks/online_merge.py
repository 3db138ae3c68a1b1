"""Benchmark: how the online network's overlapping windows are merged into one value per frame.

    python benchmarks/online_merge.py --results RUN [RUN ...] [--merges mean taper] --out FILE

Each RUN is a finished workflow run of synthetic videos (one seed; e.g. a seed of
``benchmarks/synthetic.py``). The trained per-video networks (``models/online/<seq>.pt``) predict
every test video again with each merge, without training again, and every prediction is scored
as the workflow scores it (keypoints on the frames whose keypoints training did not see, IoU
on the frames whose masks were not given, jitter, acceleration error against the true motion).
The workflow's own ``online`` and ``online_single`` scores of the same run stand beside them:
the row of the merge the run was trained with matches the workflow's ``online`` (within 6e-6 on
every metric of the four runs measured).
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
from pathlib import Path

import pandas as pd
import torch
from synthetic import spread_table
from workflow_runs import git_commit, machine

from smal4v.evaluate.stage import evaluate_sequence
from smal4v.model import load_keypoint_set
from smal4v.train.stages import repredict_online_variant

CELLS = [("pck@0.1_sqrt_area", "unseen"), ("pck@0.15_sqrt_area", "unseen"), ("pck@0.1_sqrt_area", "heldout"),
         ("iou", "unseen"), ("jitter", "all"), ("accel_error", "all")]


def score_run(results: Path, merges: list[str], model: str, keypoint_set: str, alphas: list[float]) -> pd.DataFrame:
    """Tidy metrics of every test video of one run: ``online_<merge>`` per merge, and the run's
    own ``online`` / ``online_single`` rows from its metrics.csv; the mean over videos as
    sequence ``mean``."""
    kps = load_keypoint_set(keypoint_set)
    tables = []
    for metrics_csv in sorted((results / "sequences").glob("*/metrics.csv")):
        seq_dir, seq = metrics_csv.parent, metrics_csv.parent.name
        network = results / "models" / "online" / f"{seq}.pt"
        if not network.is_file():
            continue
        with tempfile.TemporaryDirectory() as tmp:
            paths = {}
            for merge in merges:
                paths[f"online_{merge}"] = str(Path(tmp) / f"{merge}.h5")
                repredict_online_variant(str(network), str(results / "models" / "parent.pt"), str(seq_dir / "features.h5"),
                                         str(seq_dir / "frames.h5"), model, keypoint_set, merge, f"online_{merge}",
                                         paths[f"online_{merge}"], "benchmarks/online_merge.py")
            tables.append(evaluate_sequence(seq, paths, seq_dir / "annotations.h5", seq_dir / "ground_truth.h5",
                                            alphas, kps.parts))
        workflow = pd.read_csv(metrics_csv)
        tables.append(workflow[workflow.variant.isin(["online", "online_single"])])
    if not tables:
        raise SystemExit(f"{results}: no test video with a trained online network (models/online/<seq>.pt)")
    table = pd.concat(tables)
    mean = table.groupby(["variant", "metric", "split"], as_index=False)["value"].mean().assign(sequence="mean")
    return pd.concat([table, mean])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, nargs="+", required=True, help="finished workflow runs, one per seed")
    parser.add_argument("--merges", nargs="+", default=["mean", "taper"])
    parser.add_argument("--model", default="procedural")
    parser.add_argument("--keypoint-set", default="badja20")
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.05, 0.1, 0.15])
    parser.add_argument("--note", default="", help="a paragraph written under the header")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    runs = {}
    for i, results in enumerate(args.results):
        table = score_run(results, args.merges, args.model, args.keypoint_set, args.alphas)
        table.to_csv(args.out.with_suffix(f".{results.name}.csv"), index=False)
        runs[i] = table[table.sequence == "mean"]
    variants = [f"online_{m}" for m in args.merges] + ["online", "online_single"]
    lines = [
        "# Online network: merging the overlapping windows",
        "",
        f"- date: {dt.datetime.now().isoformat(timespec='seconds')}, commit {git_commit()}",
        f"- machine: {machine()}",
        "- command: `python benchmarks/online_merge.py --results "
        + " ".join(str(r) for r in args.results) + f" --merges {' '.join(args.merges)}`",
        "",
        *([args.note, ""] if args.note else []),
        f"Mean ± standard deviation over {len(runs)} run(s) (each: the mean over its test videos). `online` and "
        "`online_single` are the workflow's own scores of the same runs; `online_<merge>`: the same trained "
        "networks predicting again with that merge. Jitter and acceleration error in px/frame².",
        "",
        spread_table(runs, CELLS, variants).to_markdown(),
        "",
    ]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
