"""Benchmark: the coarse-to-fine GCN on held-out synthetic videos with off-model animals.

    python benchmarks/c2f.py [--seeds 0] [--cores 2] [--configfile FILE ...] [--reuse DIR ...]

Each seed is one clean demo workflow run (``--config seed=S``; or ``--reuse`` finished result
folders, e.g. benchmarks/synthetic.py's), whose test videos' animals carry per-animal off-model
offsets (``demo.*.off_model``). Reports coarse (``parent``) vs ``c2f`` and ``online`` vs
``online_c2f``: full (``mpvpe``) and Procrustes (``pa_mpvpe``) vertex error, IoU, PCK@0.1/0.15 per
part; the issue's targets; how ``online_c2f``'s per-frame offsets are fused (median, mean, not
at all, or smoothed in time: ``--fusion-sigmas``); wall time of the C2F rules; GCN forward+backward time per batch at the
demo's and at C2F's sizes; and a picture coarse | refined | truth. Writes benchmarks/results/c2f.md
and benchmarks/results/c2f_side_by_side.png (beside ``--out``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
from synthetic import per_seed_means
from online_settings import workflow_config
from workflow_runs import ROOT, git_commit, machine, rule_times, run_snakemake

from smal4v.data.artifacts import read_artifact
from smal4v.data.cropping import crop_camera_from_full
from smal4v.nets.params import SMALParams
from smal4v.data.sheet import load_sequence_sheet, sequences_in_split
from smal4v.evaluate.overlays import label, mesh_overlay
from smal4v.evaluate.stage import evaluate_sequence
from smal4v.model import load_keypoint_set, load_model
from smal4v.model.mesh_hierarchy import hierarchy_for_model
from smal4v.nets.coarse_to_fine import CoarseToFineNet
from smal4v.nets.single_frame import build_single_frame_net
from smal4v.train.c2f import fuse_offsets
from smal4v.train.c2f_config import GCNConfig, trains_per_video
from smal4v.train.c2f_stages import online_c2f_offsets, predict_c2f_variant, train_c2f_network
from smal4v.train.stages import parent_training_set, predict_variant, predictions_artifact

VARIANTS = ["parent", "c2f_coarse", "c2f", "online", "online_c2f"]  # c2f_coarse: c2f's coarse estimate, no offsets
CELLS = [("mpvpe", "all"), ("pa_mpvpe", "all"), ("iou", "all"), ("iou", "unseen"), ("pck@0.1_sqrt_area", "unseen"),
         ("pck@0.15_sqrt_area", "unseen"), ("pck@0.1_sqrt_area", "heldout")]
FUSION_CELLS = CELLS + [("jitter", "all"), ("accel_error", "all")]
"""The fusion table's rows: offsets that change from frame to frame can roughen the motion."""
PARTS = ["legs", "tail", "ears", "face"]
PICTURE_WIDTH = 1200
"""The side-by-side picture's largest width in pixels."""
C2F_RULES = ("build_mesh_hierarchy", "train_c2f_stage2", "train_c2f_stage3", "predict_c2f", "predict_online_c2f")


def run_means(results: Path, config: dict) -> pd.DataFrame:
    """A run's mean metrics over its test videos: the workflow's summary, or for a run stopped
    before its summary, the variants whose predictions exist scored here the same way."""
    if (results / "summary" / "metrics.csv").is_file():
        return per_seed_means(results)
    sheet = load_sequence_sheet(ROOT / config["sequences"], str(results))
    kps = load_keypoint_set(config["keypoint_set"])
    tables = []
    for seq in sequences_in_split(sheet, "test"):
        d = results / "sequences" / seq
        paths = {v: d / f"predictions_{v}.h5" for v in VARIANTS if (d / f"predictions_{v}.h5").is_file()}
        tables.append(evaluate_sequence(seq, paths, d / "annotations.h5", d / "ground_truth.h5",
                                        config["evaluate"]["alphas"], kps.parts))
    table = pd.concat(tables)
    return table.groupby(["variant", "metric", "split"], as_index=False)["value"].mean()


def direct_run(results: Path, coarse: Path, work: Path, config: dict) -> tuple[Path, dict[str, float]]:
    """C2F's stages 2 and 3 on top of a given coarse checkpoint, trained on ``results``' parent
    training set, then ``parent`` (the coarse network) and ``c2f`` predicted on its test videos,
    all without Snakemake (for a machine too busy for the whole demo); returns the folder laid
    out like a run and the wall time of each step."""
    sheet = load_sequence_sheet(ROOT / config["sequences"], str(results))
    train, generic = sequences_in_split(sheet, "train"), sequences_in_split(sheet, "generic")
    seq = results / "sequences"
    rehearsal = float(config["parent"].get("rehearsal", 0.0))
    times = {}
    t0 = time.perf_counter()
    dataset = parent_training_set([str(seq / s / "frames.h5") for s in train], [str(seq / s / "annotations.h5") for s in train],
                                  [str(seq / s / "silhouettes.h5") for s in train], rehearsal,
                                  [str(seq / s / "frames.h5") for s in generic], [str(seq / s / "ground_truth.h5") for s in generic],
                                  sorted(str(p) for p in (results / "generic").glob("images_*.h5")))
    times["training set"] = time.perf_counter() - t0
    models = work / "models"
    models.mkdir(parents=True, exist_ok=True)
    hierarchy = str(results / "models" / "mesh_hierarchy.npz")
    cfg = config["c2f"]
    for stage, init, out in (("stage2", str(coarse), models / "c2f_stage2.pt"), ("stage3", str(models / "c2f_stage2.pt"), models / "c2f.pt")):
        t0 = time.perf_counter()
        train_c2f_network(stage, init, hierarchy, dataset, cfg, config["model"], config["keypoint_set"], config["seed"], "cpu",
                          str(out), str(models / f"c2f_{stage}_losses.csv"), str(models / f"c2f_{stage}_losses.png"))
        times[f"train_c2f_{stage}"] = time.perf_counter() - t0
    shutil.copyfile(hierarchy, models / "mesh_hierarchy.npz")
    for name in sequences_in_split(sheet, "test"):
        d, out = seq / name, work / "sequences" / name
        out.mkdir(parents=True, exist_ok=True)
        for f in ("frames.h5", "annotations.h5", "ground_truth.h5"):
            shutil.copyfile(d / f, out / f)
        t0 = time.perf_counter()
        predict_variant(str(coarse), str(out / "frames.h5"), config["model"], config["keypoint_set"], "parent", "cpu",
                        str(out / "predictions_parent.h5"), "benchmarks/c2f.py", config["keypoint_fit"])
        times["predict parent"] = times.get("predict parent", 0.0) + time.perf_counter() - t0
        t0 = time.perf_counter()
        predict_c2f_variant(str(models / "c2f.pt"), hierarchy, str(out / "frames.h5"), cfg, config["model"],
                            config["keypoint_set"], "cpu", str(out / "predictions_c2f.h5"), "benchmarks/c2f.py",
                            config["keypoint_fit"])
        times["predict_c2f"] = times.get("predict_c2f", 0.0) + time.perf_counter() - t0
        # what stage 3's fine-tuning of the coarse network alone gives: its estimate without the offsets
        c2f = read_artifact(out / "predictions_c2f.h5", "predictions")
        focal, _ = crop_camera_from_full(c2f["focal"], c2f["principal"],
                                         read_artifact(out / "frames.h5", "frames", ["crop_boxes"])["crop_boxes"],
                                         read_artifact(out / "frames.h5", "frames", ["crops"])["crops"].shape[1])
        predictions_artifact(SMALParams.from_numpy({**c2f, "focal": focal}), str(out / "frames.h5"), config["model"],
                             config["keypoint_set"], "c2f_coarse", str(out / "predictions_c2f_coarse.h5"), "benchmarks/c2f.py")
    return work, times


def spread(runs: dict[int, pd.DataFrame], cells: list[tuple[str, str]]) -> pd.DataFrame:
    """``mean ± std (over seeds)`` of each (metric, split) row and variant of :data:`VARIANTS` present."""
    table = pd.concat(runs.values(), keys=list(runs), names=["seed"]).reset_index(level=0)
    table = table[np.array([(m, s) in cells for m, s in zip(table.metric, table.split)]) & table.variant.isin(VARIANTS)]
    stats = table.groupby(["metric", "split", "variant"])["value"].agg(["mean", "std"]).fillna(0.0)
    text = (stats["mean"].map("{:.3f}".format) + " ± " + stats["std"].map("{:.3f}".format)).unstack("variant")
    text.index = [f"{m} ({s})" for m, s in text.index]
    return text.loc[[f"{m} ({s})" for m, s in cells if f"{m} ({s})" in text.index],
                    [v for v in VARIANTS if v in text.columns]]


def mean_cell(runs: dict[int, pd.DataFrame], variant: str, metric: str, split: str) -> float:
    return float(np.nanmean([t[(t.variant == variant) & (t.metric == metric) & (t.split == split)]["value"].mean()
                             for t in runs.values()]))


def targets(runs: dict[int, pd.DataFrame]) -> dict[str, bool]:
    """Issue 14's targets on the means over seeds."""
    m = {(v, k, s): mean_cell(runs, v, k, s) for v in VARIANTS for k, s in CELLS}
    pck = ("pck@0.1_sqrt_area", "unseen")
    return {name: ok for name, ok in {
        "c2f IoU >= parent IoU + 0.05": m[("c2f", "iou", "all")] >= m[("parent", "iou", "all")] + 0.05,
        "c2f full vertex error <= 0.85x parent's": m[("c2f", "mpvpe", "all")] <= 0.85 * m[("parent", "mpvpe", "all")],
        "c2f PCK@0.1 not lower than parent's": m[("c2f", *pck)] >= m[("parent", *pck)],
        "online_c2f IoU >= online IoU + 0.02": m[("online_c2f", "iou", "all")] >= m[("online", "iou", "all")] + 0.02,
        "online_c2f PCK@0.1 not lower than online's": m[("online_c2f", *pck)] >= m[("online", *pck)],
    }.items() if "online" not in name or np.isfinite(m[("online_c2f", "iou", "all")])}


def fusion_table(results: Path, config: dict, sigmas: Sequence[float] = ()) -> pd.DataFrame:
    """online_c2f's metrics (means over the test videos) with the GCN's per-frame offsets fused by
    median, by mean, kept per frame, or smoothed in time with each Gaussian sigma (frames) of ``sigmas``."""
    sheet = load_sequence_sheet(ROOT / config["sequences"], str(results))
    kps = load_keypoint_set(config["keypoint_set"])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seq in sequences_in_split(sheet, "test"):
            d = results / "sequences" / seq
            network = (results / "models" / "online_c2f" / f"{seq}.pt" if trains_per_video(config["c2f"])
                       else results / "models" / "c2f.pt")  # as rule predict_online_c2f picks it
            params, offsets, base = online_c2f_offsets(str(network),
                                                       str(results / "models" / "mesh_hierarchy.npz"), str(d / "frames.h5"),
                                                       str(d / "predictions_online.h5"), config.get("c2f", {}),
                                                       config["model"], "cpu")
            base = torch.zeros_like(offsets[0]) if base is None else base
            paths = {}
            fusions = [("median", fuse_offsets(offsets, "median")), ("mean", fuse_offsets(offsets, "mean")),
                       ("per-frame", offsets)]
            fusions += [(f"smooth {sigma:g}", fuse_offsets(offsets, "smooth", sigma)) for sigma in sigmas]
            for how, delta in fusions:
                paths[how] = f"{tmp}/{seq}_{how}.h5"
                predictions_artifact(params, str(d / "frames.h5"), config["model"], config["keypoint_set"], "online_c2f",
                                     paths[how], "benchmarks/c2f.py", base + delta)
            table = evaluate_sequence(seq, paths, d / "annotations.h5", d / "ground_truth.h5", parts=kps.parts)
            rows.append(table)
    table = pd.concat(rows)
    keep = table[[(m, s) in FUSION_CELLS for m, s in zip(table.metric, table.split)]]
    out = keep.groupby(["variant", "metric", "split"])["value"].mean().unstack(0)
    out.index = [f"{m} ({s})" for m, s in out.index]
    return out[["median", "mean", "per-frame", *[f"smooth {sigma:g}" for sigma in sigmas]]]


def gcn_timing(backbone: str, image_size: int, channels: int, head: list[int], batch: int, repeats: int = 3) -> float:
    """Seconds of one forward+backward of the GCN alone (offsets from given encoder features)."""
    torch.manual_seed(0)
    model = load_model("procedural")
    coarse = build_single_frame_net({"backbone": backbone, "image_size": image_size, "feature_dim": 128}, model)
    net = CoarseToFineNet(coarse, hierarchy_for_model(model), GCNConfig(channels=channels, head_channels=head))
    with torch.no_grad():
        params, features = net.encode(torch.rand(batch, 3, image_size, image_size))
        vertices = model(params.betas, params.pose, params.trans).vertices
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        net.offsets(features, vertices, params.focal).square().sum().backward()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def truth_panel(frame: np.ndarray, gt: dict, t: int, faces: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Frame ``t``'s truth: the true mesh (synthetic video) or, on a real video, its annotated mask tinted."""
    if "vertices" in gt:
        return label(mesh_overlay(frame, gt["vertices"][t], faces, gt["focal"][t], centre, (0.6, 0.6, 0.6)), "truth")
    tinted = frame.astype(np.float32)
    if "masks" in gt and bool(gt["has_mask"][t]):
        tinted[gt["masks"][t] > 0] = 0.5 * tinted[gt["masks"][t] > 0] + 0.5 * np.array([150.0, 150.0, 150.0])
    return label(tinted.astype(np.uint8), "truth mask")


def side_by_side(results: Path, config: dict, out_png: Path) -> None:
    """One frame of the first test video: parent | c2f | truth over online | online_c2f | truth
    (the rows whose predictions exist)."""
    sheet = load_sequence_sheet(ROOT / config["sequences"], str(results))
    seq = sequences_in_split(sheet, "test")[0]
    d = results / "sequences" / seq
    frames = read_artifact(d / "frames.h5", "frames", ["frames"])["frames"]
    gt = read_artifact(d / "ground_truth.h5", "ground_truth")
    faces = load_model(config["model"]).faces.numpy()
    t = len(frames) // 2
    h, w = frames.shape[1:3]
    centre = np.array([w / 2.0, h / 2.0])  # the synthetic camera's principal point (real videos: masks only)
    rows = []
    for pair in (("parent", "c2f"), ("online", "online_c2f")):
        if not all((d / f"predictions_{name}.h5").is_file() for name in pair):
            continue
        panels = []
        for name in pair:
            p = read_artifact(d / f"predictions_{name}.h5", "predictions")
            panels.append(label(mesh_overlay(frames[t], p["vertices"][t], faces, p["focal"][t], p["principal"][t],
                                             (0.9, 0.6, 0.3) if name in ("parent", "online") else (0.3, 0.75, 0.75)), name))
        panels.append(truth_panel(frames[t], gt, t, faces, centre))
        rows.append(np.concatenate(panels, axis=1))
    picture = np.concatenate(rows, axis=0)
    scale = min(1.0, PICTURE_WIDTH / picture.shape[1])  # a real video's full frames would make a 5 MB picture
    if scale < 1.0:
        picture = cv2.resize(picture, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(out_png), picture[..., ::-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--cores", default="2")
    parser.add_argument("--configfile", nargs="*", default=[], help="profiles over config/config.yaml, in order "
                        "(e.g. config/badja.yaml config/badja_cows.yaml for a finished real-video run)")
    parser.add_argument("--reuse", nargs="*", default=[], help="finished result folders (one per seed) instead of new runs")
    parser.add_argument("--direct", nargs=2, metavar=("RESULTS", "COARSE"), default=None,
                        help="no Snakemake: stages 2 and 3 on the COARSE checkpoint with the data of RESULTS")
    parser.add_argument("--results", default="benchmarks/work/c2f")
    parser.add_argument("--out", default="benchmarks/results/c2f.md", help="the report; its picture is written beside it")
    parser.add_argument("--fusion-sigmas", type=float, nargs="*", default=[1.0, 2.0, 4.0],
                        help="online_c2f's fusion table also smooths the per-frame offsets in time with these sigmas (frames)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = workflow_config(args.configfile)  # merged key by key, as Snakemake does
    folders, runs, timings, rules = [], {}, [], []
    direct_times: dict[str, float] = {}
    if args.direct:  # one GCN training per seed on the same data and coarse network
        for seed in args.seeds:
            folder, times = direct_run(ROOT / args.direct[0], ROOT / args.direct[1], ROOT / args.results / f"seed{seed}",
                                       {**config, "seed": seed})
            folders.append(folder)
            runs[seed] = run_means(folder, config)
            direct_times = {k: direct_times.get(k, 0.0) + v / len(args.seeds) for k, v in times.items()}
    elif args.reuse:
        folders = [ROOT / r for r in args.reuse]
        runs = {i: run_means(f, config) for i, f in enumerate(folders)}
        for f in folders:
            if (f / "snakemake.log").is_file():
                rules.append(rule_times((f / "snakemake.log").read_text()))
    for seed in [] if args.reuse or args.direct else args.seeds:
        results = f"{args.results}/seed{seed}"
        shutil.rmtree(ROOT / results, ignore_errors=True)
        command = ["snakemake", "--cores", str(args.cores), *(["--configfile", *args.configfile] if args.configfile else []),
                   "--config", f"results={results}", f"seed={seed}"]
        wall, _, log = run_snakemake(command, ROOT / results / "snakemake.log")
        folders.append(ROOT / results)
        runs[seed] = run_means(ROOT / results, config)
        timings.append((seed, wall, " ".join(command)))
        rules.append(rule_times(log))
    with_online = [f for f in folders if (f / "models" / "online").is_dir() and
                   all(p.is_file() for p in (f / "sequences").glob("*/predictions_online.h5"))
                   and list((f / "sequences").glob("*/predictions_online.h5"))]
    fusion = (pd.concat([fusion_table(f, config, args.fusion_sigmas) for f in with_online]).groupby(level=0).mean()
              if with_online else None)
    picture = (ROOT / args.out).with_name(f"{Path(args.out).stem}_side_by_side.png")  # beside the report
    side_by_side(folders[0], config, picture)
    gcn = config.get("c2f", {}).get("gcn", {})
    demo_s = gcn_timing(config["network"]["backbone"], config["network"]["image_size"], int(gcn.get("channels", 256)),
                        list(gcn.get("head_channels", [64, 32])), int(config["c2f"]["stage2"].get("batch_size", 8)))
    c2f_s = gcn_timing("resnet50", 224, 256, [64, 32], 16, repeats=2)
    per_rule = pd.concat(rules).groupby("rule").agg(jobs=("jobs", "mean"), total_s=("total_s", "mean"),
                                                    max_s=("max_s", "max")) if rules else pd.DataFrame()
    c2f_rules = per_rule.loc[[r for r in C2F_RULES if r in per_rule.index]] if len(per_rule) else per_rule
    main_table = spread(runs, CELLS)
    has_3d_truth = np.isfinite(mean_cell(runs, "parent", "mpvpe", "all"))
    parts = spread(runs, [(f"pck@{a}_sqrt_area_{p}", "unseen") for a in ("0.1", "0.15") for p in PARTS])
    lines = [
        "# Coarse-to-fine GCN on " + ("held-out synthetic videos with off-model animals" if has_3d_truth
                                      else "real video (no 3D truth: no vertex or acceleration error)"),
        "",
        f"- date: {dt.datetime.now().isoformat(timespec='seconds')}, commit {git_commit()}",
        f"- machine: {machine()}",
        f"- command: `python benchmarks/c2f.py {('--direct ' + ' '.join(args.direct) + ' ') if args.direct else ''}"
        f"{'--reuse ' + ' '.join(args.reuse) if args.reuse else '--seeds ' + ' '.join(map(str, args.seeds))} --results {args.results}"
        + (f" --configfile {' '.join(args.configfile)}" if args.configfile else "") + f" --cores {args.cores}"
        + f" --fusion-sigmas {' '.join(f'{x:g}' for x in args.fusion_sigmas)} --out {args.out}`",
        *[f"- seed {s}: `{c}`, {w:.0f} s" for s, w, c in timings],
        f"- {len(runs)} seed(s); each cell is mean ± std over seeds of the mean over the test videos",
        "",
        "mpvpe: mean vertex error after moving each predicted mesh's centroid onto the truth's (no rotation",
        "or scale: shape, pose and size errors all count); pa_mpvpe: after a similarity Procrustes alignment;",
        "model units, the animal ~1.3 long. `unseen`: frames whose keypoints / masks the method was not given.",
        "",
        main_table.to_markdown(),
        "",
        "## PCK (sqrt area) per part, unseen frames",
        "",
        parts.to_markdown(),
        "",
        "## Targets (issue 14, on the means)",
        "",
        *[f"- [{'x' if ok else ' '}] {name}" for name, ok in targets(runs).items()],
        "",
        "## online_c2f: how the per-frame offsets become the video's (mean over test videos and seeds)",
        "",
        "median / mean: one shape per video; per-frame: the GCN's offsets of each frame as they are; smooth S: the",
        "per-frame offsets smoothed in time (Gaussian, sigma S frames). jitter and accel_error in px/frame².",
        "",
        fusion.to_markdown(floatfmt=".4f") if fusion is not None else "(not measured: no online predictions in the run)",
        "",
        "## Time",
        "",
        f"- GCN forward+backward per batch (offsets from encoder features, procedural mesh, level 1 = 1126 vertices):"
        f" demo size ({config['network']['backbone']} maps, {gcn.get('channels', 256)} channels, batch"
        f" {config['c2f']['stage2'].get('batch_size', 8)}) {demo_s:.2f} s; C2F's size (resnet50 maps at 224 px, 256"
        f" channels, batch 16) {c2f_s:.2f} s",
        "",
        c2f_rules.reset_index().to_markdown(index=False, floatfmt=".0f") if len(c2f_rules) else
        "\n".join(f"- {k}: {v:.0f} s" for k, v in direct_times.items()) or "(no Snakemake log)",
        "",
        f"![coarse | refined | truth]({picture.name})",
        "",
    ]
    (ROOT / args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
