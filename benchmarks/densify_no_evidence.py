"""Benchmark: ``propagate``'s no-evidence rule (``no_evidence_logit``) on and off.

    python benchmarks/densify_no_evidence.py [--run RESULTS ...] [--out FILE]

A pixel that neither propagation direction carries confidence to has fused log-odds 0. With
``no_evidence_logit: 0`` that tie was foreground, and a textureless region whose flow failed its
check could outgrow the animal and be kept by the largest-component rule. For the DAVIS camel
and cows (every 5th / 10th mask given, as ``densify.py``) and for every video of each workflow
``--run`` that has given and true masks (synthetic runs), it scores the config's ``propagate``
settings with the rule (default) and without it: J (and on DAVIS F and J mid) on the frames whose
mask was not given. The flows and propagated log-odds are computed once per video.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from densify import SPACINGS, given_every, load_video, scores
from workflow_runs import ROOT, report_header, write_report

from smal4v.data import artifacts
from smal4v.evaluate.metrics import iou_per_frame
from smal4v.segment.multiflow import FlowBank
from smal4v.segment.propagate import PropagateParams, fuse_and_finish, propagated_logits

SETTINGS = {"rule (default)": {}, "no rule (no_evidence_logit 0)": {"no_evidence_logit": 0.0}}


def both_settings(frames: np.ndarray, masks: np.ndarray, given: np.ndarray) -> dict[str, np.ndarray]:
    """Densified masks of a video under each of ``SETTINGS`` from one propagation."""
    base = PropagateParams.from_any({"progress": False})
    logits = propagated_logits(FlowBank(frames, base.flow_params()), masks, given, base)
    return {name: fuse_and_finish(frames, masks, given, logits, None, PropagateParams.from_any({"progress": False, **change}))[0]
            for name, change in SETTINGS.items()}


def davis_rows() -> list[dict]:
    """Scores on the two DAVIS videos at both spacings."""
    rows = []
    for name in ("camel", "cows"):
        frames, gt = load_video(name, None)
        for every in SPACINGS:
            given = given_every(len(frames), every)
            for setting, masks in both_settings(frames, np.where(given[:, None, None], gt, False), given).items():
                rows.append({"video": name, "given": f"every {every}th", "setting": setting,
                             **scores(masks, gt, given, every)})
    return rows


def run_rows(run: Path) -> list[dict]:
    """J per synthetic video of a workflow run (videos with given and true masks)."""
    rows = []
    for seq in sorted((run / "sequences").iterdir()):
        if not (seq / "ground_truth.h5").is_file() or not (seq / "silhouettes.h5").is_file():
            continue
        frames = artifacts.read_artifact(seq / "frames.h5", "frames", ["frames"])["frames"]
        ann = artifacts.read_artifact(seq / "annotations.h5", "annotations", ["masks", "masks_given"])
        gt = artifacts.read_artifact(seq / "ground_truth.h5", "ground_truth", ["masks"])["masks"] > 0
        given = ann["masks_given"].astype(bool)
        for setting, masks in both_settings(frames, ann["masks"] > 0, given).items():
            rows.append({"run": run.name, "video": seq.name, "setting": setting,
                         "J": float(np.mean(iou_per_frame(masks[~given], gt[~given])))})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", action="append", default=[], help="a workflow results folder with synthetic videos")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "densify_no_evidence.md"))
    args = parser.parse_args()
    davis = pd.DataFrame(davis_rows())
    lines = report_header("propagate's no-evidence rule on and off",
                          " ".join(["python benchmarks/densify_no_evidence.py", *[f"--run {r}" for r in args.run]]),
                          "J, F: on the frames whose mask was not given; J mid: the frames farthest from a given mask.")
    lines += ["## DAVIS (BADJA's camel and cows)", "",
              davis.pivot_table(index=["video", "given"], columns="setting", values=["J", "F", "Jmid"]).to_markdown(floatfmt=".4f"), ""]
    if args.run:
        synth = pd.DataFrame([row for run in args.run for row in run_rows(Path(run))])
        table = synth.pivot_table(index=["run", "video"], columns="setting", values="J")
        lines += ["## Synthetic videos of workflow runs (J)", "", table.to_markdown(floatfmt=".3f"), "",
                  "Mean over the videos: " + ", ".join(f"{k} {v:.3f}" for k, v in table.mean().items()), ""]
    write_report(args.out, lines)


if __name__ == "__main__":
    main()
