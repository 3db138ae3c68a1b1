"""Benchmark: the cameras the per-video networks end with, against the synthetic truth.

    python benchmarks/online_camera.py --results RUN [RUN ...] [--variants parent online_single online] --out FILE

For every test video of each finished synthetic run RUN and each variant: the median over the
frames of the predicted focal / the true focal, of the predicted depth (trans z) / the true
depth, and of the spread of the projected keypoints / the true keypoints' spread (1 = the animal
has its true size in the image). Focal and depth are only fixed up to a common factor by the
image (a dolly zoom), so a fit that only matches keypoints can drift along that line; a spread
far below 1 is an animal shrunk towards a point.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
from workflow_runs import git_commit, machine

from smal4v.data.artifacts import read_artifact


def camera_ratios(sequence_dir: Path, variant: str) -> tuple[float, float, float]:
    """(focal ratio, depth ratio, keypoint spread ratio) of ``variant`` against the truth:
    medians over the frames."""
    truth = read_artifact(sequence_dir / "ground_truth.h5", "ground_truth", ["keypoints", "focal", "trans"])
    pred = read_artifact(sequence_dir / f"predictions_{variant}.h5", "predictions", ["keypoints_2d", "focal", "trans"])
    spread = pred["keypoints_2d"].std(axis=1).mean(-1) / truth["keypoints"][..., :2].std(axis=1).mean(-1)
    return (float(np.median(pred["focal"] / truth["focal"])), float(np.median(pred["trans"][:, 2] / truth["trans"][:, 2])),
            float(np.median(spread)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, nargs="+", required=True)
    parser.add_argument("--variants", nargs="+", default=["parent", "online_single", "online"])
    parser.add_argument("--note", default="")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rows = ["| run | video | " + " | ".join(f"{v}: focal / depth / spread" for v in args.variants) + " |",
            "|---|---|" + "---|" * len(args.variants)]
    ratios: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    for results in args.results:
        for seq_dir in sorted(p.parent for p in (results / "sequences").glob("*/predictions_online.h5")):
            cells = []
            for variant in args.variants:
                if not (seq_dir / f"predictions_{variant}.h5").is_file():
                    cells.append("-")
                    continue
                r = camera_ratios(seq_dir, variant)
                ratios.setdefault((results.name, variant), []).append(r)
                cells.append(" / ".join(f"{x:.2f}" for x in r))
            rows.append(f"| {results.name} | {seq_dir.name} | " + " | ".join(cells) + " |")
    summary = ["| run | variant | videos | median focal ratio | median depth ratio | videos with spread < 0.5 |",
               "|---|---|---|---|---|---|"]
    for (run, variant), rs in ratios.items():
        a = np.array(rs)
        summary.append(f"| {run} | {variant} | {len(a)} | {np.median(a[:, 0]):.2f} | {np.median(a[:, 1]):.2f} "
                       f"| {int((a[:, 2] < 0.5).sum())} |")
    lines = ["# Cameras of the per-video fits against the synthetic truth", "",
             f"- date: {dt.datetime.now().isoformat(timespec='seconds')}, commit {git_commit()}",
             f"- machine: {machine()}",
             f"- command: `python benchmarks/online_camera.py --results {' '.join(map(str, args.results))} "
             f"--variants {' '.join(args.variants)}`", "", *([args.note, ""] if args.note else []),
             "Ratios are predicted / true, medians over the frames of a video (1 = right).", "",
             *summary, "", *rows, ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(summary))


if __name__ == "__main__":
    main()
