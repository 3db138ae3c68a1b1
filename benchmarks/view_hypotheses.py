"""Exploratory: what the view hypotheses of one video's online fit see, at several fit lengths.

    python benchmarks/view_hypotheses.py --results RUN --sequence SEQ [--steps 100 400] --out FILE

For each body turn (0/90/180/270 degrees) and each length of the short fit, the loss
``choose_view`` compares (training keypoints, temporal terms, priors) and, beside it, the
silhouette term against the densified masks of every frame after the same fit. RUN is a finished
workflow run whose ``models/online/<SEQ>.pt`` holds the online settings it was trained with.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
from pathlib import Path

import torch
from workflow_runs import git_commit, machine

from smal4v.model import load_keypoint_set, load_model
from smal4v.nets.temporal import window_starts
from smal4v.train.config import OnlineTrainConfig
from smal4v.train.loop import load_checkpoint
from smal4v.train.online import fit_view_hypothesis, window_losses
from smal4v.train.scene import Priors, Scene
from smal4v.train.single_frame import load_single_frame_net
from smal4v.train.stages import online_sequence_data


def hypothesis_losses(results: Path, sequence: str, steps: int) -> list[tuple[float, float]]:
    """(keypoint-only loss over every window, silhouette term over every window) per body turn
    after a ``steps``-step fit, as ``choose_view`` makes it."""
    model, kps = load_model("procedural"), load_keypoint_set("badja20")
    seq_dir = results / "sequences" / sequence
    data = online_sequence_data(*(str(seq_dir / f"{a}.h5") for a in ("features", "frames", "annotations", "silhouettes")),
                                sequence)
    saved = load_checkpoint(results / "models" / "online" / f"{sequence}.pt")["online_config"]
    cfg = OnlineTrainConfig.from_dict(saved | {"hypothesis_steps": steps}, "online")
    parent = load_single_frame_net(results / "models" / "parent.pt", model)
    device = torch.device("cpu")
    scene = Scene(model, kps, data.image_size, cfg.loss.mask_size, cfg.loss.silhouette_sigma, None)
    priors = Priors(model, parent.config.shape_family)
    starts, length = window_starts(len(data), cfg.window, cfg.stride), min(cfg.window, len(data))
    out = []
    for k in range(cfg.view_hypotheses):
        net = fit_view_hypothesis(parent, model, data, cfg, scene, priors, device, starts, length,
                                  2 * math.pi * k / cfg.view_hypotheses)
        with torch.no_grad():
            keypoints = sum(float(window_losses(net, scene, priors, data, [s], length, cfg, False, device)[0])
                            for s in starts) / len(starts)
            silhouette = sum(window_losses(net, scene, priors, data, [s], length, cfg, True, device)[1]["silhouette"]
                             for s in starts) / len(starts)
        out.append((keypoints, silhouette))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--sequence", required=True)
    parser.add_argument("--steps", type=int, nargs="+", default=[100, 400])
    parser.add_argument("--note", default="")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows = ["| fit steps | body turn (deg) | keypoint-only loss | silhouette term |", "|---|---|---|---|"]
    for steps in args.steps:
        losses = hypothesis_losses(args.results, args.sequence, steps)
        for k, (keypoints, silhouette) in enumerate(losses):
            rows.append(f"| {steps} | {360 * k // len(losses)} | {keypoints:.4f} | {silhouette:.4f} |")
    lines = ["# View hypotheses of one video, at several fit lengths (exploratory)", "",
             f"- date: {dt.datetime.now().isoformat(timespec='seconds')}, commit {git_commit()}",
             f"- machine: {machine()}",
             f"- command: `python benchmarks/view_hypotheses.py --results {args.results} --sequence {args.sequence} "
             f"--steps {' '.join(map(str, args.steps))}`", "", *([args.note, ""] if args.note else []), *rows, ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
