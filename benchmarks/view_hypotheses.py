"""Which body turn the online view hypotheses choose, at several fit lengths, against the truth.

    python benchmarks/view_hypotheses.py --results RUN [RUN ...] [--sequence SEQ ...] [--steps 100 400] --out FILE

For every test video of each finished workflow run RUN (or the named ones), every body turn
(0/90/180/270 degrees) and every length of the short fit: the loss ``choose_view`` compares
(training keypoints, temporal terms, priors), the silhouette term against the densified masks of
every frame after the same fit, the turn ``choose_view`` would keep, and the turn nearest the
synthetic truth (the parent's root rotation turned by it, against the true root: mean geodesic
angle over the frames). RUN's ``models/<VARIANT>/<SEQ>.pt`` holds the settings it was
trained with; only ``hypothesis_steps`` is changed. Choose a fit length on seed 0's runs only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import time
from pathlib import Path

import numpy as np
import torch
from online_camera import parent_turn_errors
from workflow_runs import git_commit, machine

from smal4v.model import load_keypoint_set, load_model
from smal4v.nets.temporal import window_starts
from smal4v.train.config import OnlineTrainConfig
from smal4v.train.loop import load_checkpoint
from smal4v.train.online import fit_view_hypothesis, pick_view, window_losses
from smal4v.train.scene import Priors, Scene
from smal4v.train.single_frame import load_single_frame_net
from smal4v.train.stages import online_sequence_data


def hypothesis_losses(results: Path, sequence: str, variant: str, steps: int) -> tuple[list[tuple[float, float]], float, float]:
    """(keypoint-only loss over every window, silhouette term over every window) per body turn
    after a ``steps``-step fit, as ``choose_view`` makes it; the run's view margin; seconds the
    fits took."""
    model, kps = load_model("procedural"), load_keypoint_set("badja20")
    seq_dir = results / "sequences" / sequence
    data = online_sequence_data(*(str(seq_dir / f"{a}.h5") for a in ("features", "frames", "annotations", "silhouettes")),
                                sequence)
    saved = load_checkpoint(results / "models" / variant / f"{sequence}.pt")["online_config"]
    cfg = OnlineTrainConfig.from_dict(saved | {"hypothesis_steps": steps}, "online")
    parent = load_single_frame_net(results / "models" / "parent.pt", model)
    device = torch.device("cpu")
    scene = Scene(model, kps, data.image_size, cfg.loss.mask_size, cfg.loss.silhouette_sigma, None)
    priors = Priors(model, parent.config.shape_family)
    starts, length = window_starts(len(data), cfg.window, cfg.stride), min(cfg.window, len(data))
    out, seconds = [], 0.0
    for k in range(cfg.view_hypotheses):
        t0 = time.time()
        net = fit_view_hypothesis(parent, model, data, cfg, scene, priors, device, starts, length,
                                  2 * math.pi * k / cfg.view_hypotheses)
        seconds += time.time() - t0
        with torch.no_grad():
            keypoints = sum(float(window_losses(net, scene, priors, data, [s], length, cfg, False, device)[0])
                            for s in starts) / len(starts)
            silhouette = sum(window_losses(net, scene, priors, data, [s], length, cfg, True, device)[1]["silhouette"]
                             for s in starts) / len(starts)
        out.append((keypoints, float(silhouette)))
    return out, cfg.view_margin, seconds


def test_sequences(results: Path, variant: str) -> list[str]:
    """The videos of a run that have a trained ``variant`` network."""
    return sorted(p.stem for p in (results / "models" / variant).glob("*.pt"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, nargs="+", required=True)
    parser.add_argument("--sequence", nargs="*", default=None, help="default: every video with an online network")
    parser.add_argument("--steps", type=int, nargs="+", default=[100, 400])
    parser.add_argument("--variant", default="online", choices=["online", "online_single"],
                        help="whose settings (temporal network or not) the hypothesis fits use")
    parser.add_argument("--note", default="")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = ["| run | video | fit steps | keypoint-only loss per turn (0/90/180/270) | silhouette term per turn "
            "| kept turn | turn nearest the truth | parent's root error per turn (deg) | fit time (s) |",
            "|---|---|---|---|---|---|---|---|---|"]
    right: dict[int, list[bool]] = {s: [] for s in args.steps}
    for results in args.results:
        for sequence in args.sequence or test_sequences(results, args.variant):
            errors = parent_turn_errors(results / "sequences" / sequence)
            nearest = int(np.argmin(errors))
            for steps in args.steps:
                losses, margin, seconds = hypothesis_losses(results, sequence, args.variant, steps)
                kept = pick_view([k for k, _ in losses], margin)
                right[steps].append(kept == nearest)
                rows.append(f"| {results.name} | {sequence} | {steps} | {' / '.join(f'{k:.3f}' for k, _ in losses)} "
                            f"| {' / '.join(f'{s:.3f}' for _, s in losses)} | {90 * kept} | {90 * nearest} "
                            f"| {' / '.join(f'{e:.0f}' for e in errors)} | {seconds:.0f} |")
                print(rows[-1], flush=True)
    summary = ["| fit steps | videos whose kept turn is the one nearest the truth |", "|---|---|"]
    summary += [f"| {s} | {sum(r)} / {len(r)} |" for s, r in right.items()]
    lines = ["# View hypotheses at several fit lengths, against the truth", "",
             f"- date: {dt.datetime.now().isoformat(timespec='seconds')}, commit {git_commit()}",
             f"- machine: {machine()}",
             f"- command: `python benchmarks/view_hypotheses.py --results {' '.join(map(str, args.results))}"
             + (f" --sequence {' '.join(args.sequence)}" if args.sequence else "")
             + f" --steps {' '.join(map(str, args.steps))} --variant {args.variant}`", "", *([args.note, ""] if args.note else []),
             *summary, "", *rows, ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(summary))


if __name__ == "__main__":
    main()
