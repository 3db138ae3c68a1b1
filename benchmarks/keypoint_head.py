"""Benchmark: the single-frame networks' keypoint head and the fit to its detections, on held-out synthetic videos.

    python benchmarks/keypoint_head.py --run RUN --reference REF [--steps 0 100] [--out FILE]

``RUN`` is a workflow results folder whose base and parent were trained with
``network.keypoint_head: true``; ``REF`` the same seed's finished run without the head (same data, e.g. a
seed of ``benchmarks/synthetic.py``), or with another head (``--reference-label`` names it; its
detections are scored too). For every test video of ``REF`` it scores, for base and
parent: the run's predictions fitted to the detections for each ``--steps`` (0 = the
parameters as regressed; :func:`smal4v.train.stages.predict_variant`), the detections
themselves, and REF's predictions. PCK (sqrt area) on every frame whose keypoints training did
not see and IoU on the frames whose masks were not given, as ``evaluate`` scores them; means
over the videos. Writes benchmarks/results/keypoint_head.md (or ``--out``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from online_settings import parse_variant
from workflow_runs import mean_and_spread, report_header, write_report

from smal4v.data.annotations import SPLIT_TRAIN
from smal4v.data.artifacts import read_artifact
from smal4v.data.cropping import crop_to_original
from smal4v.evaluate import metrics
from smal4v.evaluate.stage import evaluate_sequence
from smal4v.model import load_keypoint_set, load_model
from smal4v.train.single_frame import detect_single_frame, load_single_frame_net
from smal4v.train.stages import predict_variant

CELLS = [("pck@0.1_sqrt_area", "unseen"), ("pck@0.15_sqrt_area", "unseen"), ("iou", "unseen")]
REFERENCE_LABEL = "no head (the reference run)"


def detection_scores(network: Path, seq: Path, model: torch.nn.Module) -> dict[tuple[str, str], float]:
    """PCK of the keypoint head's detections themselves (in original pixels) on the unseen frames."""
    crops = read_artifact(seq / "frames.h5", "frames", ["crops"])["crops"]
    return detections_pck(detect_single_frame(load_single_frame_net(network, model), crops)[1].xy.numpy(), seq)


def detections_pck(xy: np.ndarray, seq: Path, parts: dict[str, list[int]] | None = None) -> dict[tuple[str, str], float]:
    """PCK@0.1 and @0.15 (sqrt area; per part with ``parts``) of (N, K, 2) crop-pixel detections of
    the video in ``seq``, in original pixels, on the frames whose keypoints training did not see."""
    fr = read_artifact(seq / "frames.h5", "frames", ["crops", "crop_boxes"])
    ann = read_artifact(seq / "annotations.h5", "annotations", ["keypoint_split"])
    gt = read_artifact(seq / "ground_truth.h5", "ground_truth", ["keypoints", "masks", "has_mask"])
    xy = crop_to_original(xy, fr["crop_boxes"][:, None, :], fr["crops"].shape[1])
    norm = metrics.mask_area_norm(gt["masks"], gt["has_mask"])
    scores = metrics.pck(xy, gt["keypoints"], norm, (0.1, 0.15), parts, frames=ann["keypoint_split"] != SPLIT_TRAIN)
    out = {}
    for name, value in scores.items():
        alpha, _, part = name.split("@", 1)[1].partition("_")
        out[(f"pck@{alpha}_sqrt_area" + (f"_{part}" if part else ""), "unseen")] = value
    return out


def fits(steps: list[int], silhouette_weights: list[float],
         variants: Sequence[tuple[str, dict]] = ()) -> list[tuple[str, dict[str, object]]]:
    """(row label, keypoint_fit settings) for every number of steps, and for every silhouette
    weight when more than one is asked for (the weight only acts with a silhouette head); then a
    row per named variant: ``keypoint_fit`` at the most steps, updated by its settings."""
    out: list[tuple[str, dict[str, object]]] = []
    for n in steps:
        if n == 0:
            out.append(("regressed", {"steps": 0}))
        for w in silhouette_weights if n else []:
            label = f"fit {n} steps" + (f", silhouette {w:g}" if len(silhouette_weights) > 1 else "")
            out.append((label, {"steps": n, "weights": {"silhouette": w}}))
    return out + [(name, {"steps": max(steps), **update}) for name, update in variants]


def score_run(run: Path, reference: Path, steps: list[int], fit_lr: float, reference_label: str = REFERENCE_LABEL,
              silhouette_weights: tuple[float, ...] = (10.0,),
              variants: tuple[tuple[str, dict], ...] = ()) -> tuple[pd.DataFrame, dict[str, float]]:
    """Mean over RUN's test videos of every (row, cell); and the parent's fitting time per video (s) per fit."""
    model = load_model("procedural")
    kps = load_keypoint_set("badja20")
    rows, tables = [], []
    fit_seconds: dict[str, list[float]] = {}
    test_videos = sorted(p.parent.name for p in (reference / "sequences").glob("*/predictions_parent.h5"))
    fit_rows = fits(steps, list(silhouette_weights), list(variants))
    for seq in (run / "sequences" / name for name in test_videos):
        with tempfile.TemporaryDirectory() as tmp:
            predictions = {}
            for variant in ("base", "parent"):
                network = run / "models" / f"{variant}.pt"
                for i, (label, fit_cfg) in enumerate(fit_rows):
                    out = Path(tmp) / f"{variant}_{i}.h5"
                    start = time.perf_counter()
                    predict_variant(str(network), str(seq / "frames.h5"), "procedural", "badja20", variant, "cpu", str(out),
                                    "benchmarks/keypoint_head.py", {**fit_cfg, "lr": fit_lr})
                    if fit_cfg["steps"] and variant == "parent":
                        fit_seconds.setdefault(label, []).append(time.perf_counter() - start)
                    predictions[f"{variant}, head, {label}"] = out
                predictions[f"{variant}, {reference_label}"] = reference / "sequences" / seq.name / f"predictions_{variant}.h5"
                detectors = {"head": network}
                reference_network = reference / "models" / f"{variant}.pt"
                if (reference_network.resolve() != network.resolve()
                        and load_single_frame_net(reference_network, model).keypoint_head is not None):
                    detectors[reference_label] = reference_network  # a run compared with itself is scored once
                for label, path in detectors.items():
                    rows += [dict(sequence=seq.name, variant=f"{variant}, {label}, detections", metric=m, split=s, value=v)
                             for (m, s), v in detection_scores(path, seq, model).items()]
            tables.append(evaluate_sequence(seq.name, predictions, seq / "annotations.h5", seq / "ground_truth.h5",
                                            parts=dict(kps.parts)))
    table = pd.concat([*tables, pd.DataFrame(rows)])
    cells = table.set_index(["metric", "split"]).loc[CELLS].reset_index()
    wide = cells.pivot_table(index="variant", columns=["metric", "split"], values="value", aggfunc="mean")
    wide.columns = [f"{m} ({s})" for m, s in wide.columns]
    return wide, {label: float(np.mean(t)) for label, t in fit_seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, nargs="+", required=True, help="results folders trained with the keypoint head")
    parser.add_argument("--reference", type=Path, nargs="+", required=True, help="the same seeds' runs without it, in order")
    parser.add_argument("--steps", type=int, nargs="+", default=[0, 100])
    parser.add_argument("--lr", type=float, default=0.01, help="the fit's learning rate")
    parser.add_argument("--silhouette", type=float, nargs="+", default=[10.0],
                        help="the fit's silhouette weights (each a row; they act only with network.silhouette_head)")
    parser.add_argument("--out", default="benchmarks/results/keypoint_head.md")
    parser.add_argument("--reference-label", default=REFERENCE_LABEL,
                        help="how the tables name the reference runs (their detections are scored too if they have a head)")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=YAML",
                        help="another fit: keypoint_fit at the most --steps updated by YAML, e.g. 'sides={mirror_tolerant: true}'")
    parser.add_argument("--note", default="")
    args = parser.parse_args()
    if len(args.run) != len(args.reference):
        parser.error("give one --reference per --run")
    torch.set_num_threads(1)
    per_run, times = [], []
    for run, reference in zip(args.run, args.reference):
        wide, seconds = score_run(run, reference, args.steps, args.lr, args.reference_label, tuple(args.silhouette),
                                  tuple(parse_variant(v) for v in args.variant))
        per_run.append(wide)
        times.append(seconds)
    shown = mean_and_spread(per_run).sort_index()
    shown = shown.replace({"nan": "-", "nan ± nan": "-"})
    lines = [
        *report_header("The keypoint head and the fit to its detections (held-out synthetic videos)",
                       f"python benchmarks/keypoint_head.py --run {' '.join(map(str, args.run))} --reference "
                       f"{' '.join(map(str, args.reference))} --steps {' '.join(map(str, args.steps))} --lr {args.lr}"
                       f" --silhouette {' '.join(f'{w:g}' for w in args.silhouette)}"
                       + "".join(f" --variant '{v}'" for v in args.variant)
                       + (f" --reference-label '{args.reference_label}'" if args.reference_label != REFERENCE_LABEL else ""),
                       args.note),
        f"Means over each run's test videos, then mean ± std over the {len(per_run)} run(s). `unseen`: every frame whose",
        "keypoints (PCK, sqrt area) or mask (IoU) the method was not given. Fitting time per video (40 frames, parent), "
        "per run: " + "; ".join(f"{label}: " + ", ".join(f"{t[label]:.1f} s" for t in times) for label in times[0]) + ".",
        "",
        shown.to_markdown(),
        "",
    ]
    write_report(args.out, lines)


if __name__ == "__main__":
    main()
