"""Benchmark: the cameras (and facings) the per-video networks end with, against the synthetic truth.

    python benchmarks/online_camera.py --results RUN [RUN ...] [--variants parent online_single online] --out FILE

For every test video of each finished synthetic run RUN and each variant: the median over the
frames of the predicted focal / the true focal, of the predicted depth (trans z) / the true
depth, and of the spread of the projected keypoints / the true keypoints' spread (1 = the animal
has its true size in the image), and the mean angle between its root rotation and the true one;
per video also the parent's root error with the body turned 0/90/180/270 degrees (the online view
hypotheses: the smallest names the turn nearest the truth). Focal and depth are only fixed up to
a common factor by the image (a dolly zoom), so a fit that only matches keypoints can drift along
that line; a spread far below 1 is an animal shrunk towards a point.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
from workflow_runs import git_commit, machine

from smal4v.data.artifacts import read_artifact
from smal4v.evaluate.metrics import turned_root_errors

TURNS = [0.0, np.pi / 2, np.pi, 3 * np.pi / 2]


def camera_ratios(sequence_dir: Path, variant: str) -> tuple[float, float, float, float]:
    """(focal ratio, depth ratio, keypoint spread ratio, root error in degrees) of ``variant``
    against the truth: medians over the frames (the root error: the mean)."""
    truth = read_artifact(sequence_dir / "ground_truth.h5", "ground_truth", ["keypoints", "focal", "trans", "pose"])
    pred = read_artifact(sequence_dir / f"predictions_{variant}.h5", "predictions", ["keypoints_2d", "focal", "trans", "pose"])
    spread = pred["keypoints_2d"].std(axis=1).mean(-1) / truth["keypoints"][..., :2].std(axis=1).mean(-1)
    return (float(np.median(pred["focal"] / truth["focal"])), float(np.median(pred["trans"][:, 2] / truth["trans"][:, 2])),
            float(np.median(spread)), turned_root_errors(pred["pose"][:, 0], truth["pose"][:, 0], [0.0])[0])


def parent_turn_errors(sequence_dir: Path) -> list[float]:
    """The parent's root error (degrees) with the body turned by each of :data:`TURNS`."""
    truth = read_artifact(sequence_dir / "ground_truth.h5", "ground_truth", ["pose"])["pose"]
    parent = read_artifact(sequence_dir / "predictions_parent.h5", "predictions", ["pose"])["pose"]
    return turned_root_errors(parent[:, 0], truth[:, 0], TURNS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, nargs="+", required=True)
    parser.add_argument("--variants", nargs="+", default=["parent", "online_single", "online"])
    parser.add_argument("--note", default="")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rows = ["| run | video | " + " | ".join(f"{v}: focal / depth / spread / root error" for v in args.variants)
            + " | parent's root error turned 0 / 90 / 180 / 270 |", "|---|---|" + "---|" * (len(args.variants) + 1)]
    ratios: dict[tuple[str, str], list[tuple[float, float, float, float]]] = {}
    for results in args.results:
        for seq_dir in sorted(p.parent for p in (results / "sequences").glob("*/predictions_online.h5")):
            cells = []
            for variant in args.variants:
                if not (seq_dir / f"predictions_{variant}.h5").is_file():
                    cells.append("-")
                    continue
                r = camera_ratios(seq_dir, variant)
                ratios.setdefault((results.name, variant), []).append(r)
                cells.append(" / ".join(f"{x:.2f}" for x in r[:3]) + f" / {r[3]:.0f}")
            turns = " / ".join(f"{e:.0f}" for e in parent_turn_errors(seq_dir))
            rows.append(f"| {results.name} | {seq_dir.name} | " + " | ".join(cells) + f" | {turns} |")
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
