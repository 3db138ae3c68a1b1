"""Benchmark: C2F's stages 2 and 3 under other settings, on finished synthetic workflow runs.

    python benchmarks/c2f_settings.py --run benchmarks/work/synthetic/seed1=1 [--run DIR=SEED ...] \\
        --variant 'config={}' --variant 'stage 3 at 1e-5={stage3: {lr: 1.0e-5}}' --out benchmarks/results/X.md

For each run (a finished ``snakemake --config results=DIR seed=SEED`` of ``--config``) and each
``--variant NAME=YAML`` (the config's ``c2f`` settings updated by YAML), it retrains C2F's stage 2
from the run's parent and stage 3 from that, then scores on the run's test videos: the parent,
the stage-3 network's coarse estimate (fitted to its detections with the config's ``keypoint_fit``, as
the workflow's ``c2f`` is) without its offsets (``c2f_coarse``), ``c2f``, the run's
``online`` and ``online_c2f`` (the new GCN on the online estimate, offsets fused; trained further on
each test video first where the settings' ``online.epochs`` > 0). Cells are the
mean ± std over runs of each run's mean over its test videos. ``--keypoint-set`` names the set a
run was made with, when the set's file has changed since. One torch thread, as the config
``{}`` then reproduces the workflow's own ``c2f`` and ``online_c2f`` numbers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from functools import partial
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workflow_runs import machine, write_report  # noqa: E402
from online_settings import merged, parse_variant, workflow_config  # noqa: E402
from synthetic import spread_table  # noqa: E402

from smal4v.data.artifacts import read_artifact
from smal4v.data.sheet import load_sequence_sheet, sequences_in_split
from smal4v.evaluate.stage import evaluate_sequence
from smal4v.model import load_keypoint_set
from smal4v.train.c2f import canonical_offsets
from smal4v.train.c2f_config import trains_per_video
from smal4v.train.c2f_stages import (c2f_estimate, c2f_network, crop_camera_estimate, predict_online_c2f_variant,
                                     train_c2f_network, train_online_c2f_network, uses_offset_truth)
from smal4v.train.stages import fit_settings, parent_training_set, predictions_artifact

ROOT = Path(__file__).resolve().parents[1]
CELLS = [("pck@0.1_sqrt_area", "unseen"), ("pck@0.15_sqrt_area", "unseen"), ("pck@0.1_sqrt_area", "heldout"),
         ("iou", "unseen"), ("iou", "all"), ("mpvpe", "all"), ("pa_mpvpe", "all")]
"""``unseen``: every frame whose keypoints training did not see (dense synthetic truth only);
``heldout``: the held-out annotated frames (a real video's only keypoint truth)."""
VARIANTS = ("parent", "c2f_coarse", "c2f", "online", "online_c2f")
ORACLES = ("c2f_oracle", "online_oracle")
"""With ``--oracle``: ``c2f_coarse`` and ``online`` with the TRUE canonical offsets (the animal's
off-model shape and the in-space shape error): the most any per-vertex offsets can add to them."""


def run_files(results: Path, sheet: dict, split: str, name: str) -> list[str]:
    """The artifact ``name`` (e.g. ``frames.h5``) of every video of ``split`` in a run's sheet."""
    return [str(results / "sequences" / s / name) for s in sequences_in_split(sheet, split)]


def generic_images(results: Path, generic: str = "generic") -> list[str]:
    """A run's rendered generic image shards (``results/<generic>/images_*.h5``)."""
    return sorted(str(p) for p in (results / generic).glob("images_*.h5"))


def training_set(results: Path, sheet: dict, rehearsal: float, offsets: bool = False, generic: str = "generic"):
    """The parent's (and C2F's) training set of a run, as the workflow's train_c2f rules build it,
    with the generic image shards of ``results/<generic>``."""
    files = partial(run_files, results, sheet)
    images = generic_images(results, generic) if rehearsal > 0 else []
    return parent_training_set(files("train", "frames.h5"), files("train", "annotations.h5"),
                               files("train", "silhouettes.h5"), rehearsal, files("generic", "frames.h5"),
                               files("generic", "ground_truth.h5"), images, offsets)


def oracle_predictions(params, frames: str, online: str, truth: str, model, config: dict, keypoint_set: str,
                       out: Path, seq: str) -> dict[str, str]:
    """``c2f_oracle`` / ``online_oracle`` prediction files of one test video (see :data:`ORACLES`)."""
    gt = read_artifact(truth, "ground_truth", ["betas", "delta_v"])
    files = {}
    for variant, estimate in (("c2f_oracle", params), ("online_oracle", crop_camera_estimate(frames, online)[0])):
        n = len(estimate.betas)
        true_offsets = torch.from_numpy(gt["delta_v"])[None].expand(n, -1, -1)
        delta_v = canonical_offsets(model, estimate.betas, torch.from_numpy(gt["betas"]), true_offsets)
        files[variant] = str(out / f"{seq}_{variant}.h5")
        predictions_artifact(estimate, frames, config["model"], keypoint_set, variant, files[variant], "benchmark", delta_v)
    return files


def run_metrics(results: Path, seed: int, config: dict, keypoint_set: str, name: str, update: dict,
                work: Path, generic: str = "generic", oracle: bool = False) -> pd.DataFrame:
    """Tidy metrics of one run's test videos with C2F retrained under ``update``."""
    torch.set_num_threads(1)
    cfg = merged(config["c2f"], update)
    keypoints = load_keypoint_set(keypoint_set)
    sheet = load_sequence_sheet(ROOT / config["sequences"], results=str(results))
    models = results / "models"
    offsets = any(uses_offset_truth(cfg, stage) for stage in ("stage2", "stage3"))
    data = training_set(results, sheet, float(config["parent"]["rehearsal"]), offsets, generic)
    out = work / f"{results.name}_{name.replace('/', '_')}"
    out.mkdir(parents=True)
    for stage, init in (("stage2", models / "parent.pt"), ("stage3", out / "stage2.pt")):
        train_c2f_network(stage, str(init), str(models / "mesh_hierarchy.npz"), data, cfg, config["model"], keypoint_set,
                          seed, "cpu", str(out / f"{stage}.pt"), str(out / f"{stage}.csv"), str(out / f"{stage}.png"))
    net, model = c2f_network(str(out / "stage3.pt"), str(models / "mesh_hierarchy.npz"), config["model"], cfg, "cpu")
    tables = []
    for seq in sequences_in_split(sheet, "test"):
        d = results / "sequences" / seq
        frames = str(d / "frames.h5")
        params, offsets = c2f_estimate(net, model, read_artifact(frames, "frames", ["crops"])["crops"], keypoint_set,
                                       fit_settings(net.coarse, config["keypoint_fit"], str(out / "stage3.pt")))
        predictions = {"parent": str(d / "predictions_parent.h5"), "online": str(d / "predictions_online.h5")}
        for variant, delta_v in (("c2f_coarse", None), ("c2f", offsets)):
            predictions[variant] = str(out / f"{seq}_{variant}.h5")
            predictions_artifact(params, frames, config["model"], keypoint_set, variant, predictions[variant],
                                 "benchmark", delta_v)
        predictions["online_c2f"] = str(out / f"{seq}_online_c2f.h5")
        network = str(out / "stage3.pt")
        if trains_per_video(cfg):  # the GCN trained further on the video itself
            network = str(out / f"{seq}_online.pt")
            train_online_c2f_network(str(out / "stage3.pt"), str(models / "mesh_hierarchy.npz"), frames,
                                     str(d / "annotations.h5"), str(d / "silhouettes.h5"), predictions["online"], cfg,
                                     config["model"], keypoint_set, seed, "cpu", network, str(out / f"{seq}_online.csv"),
                                     str(out / f"{seq}_online.png"))
        predict_online_c2f_variant(network, str(models / "mesh_hierarchy.npz"), frames,
                                   predictions["online"], cfg, config["model"], keypoint_set, "cpu",
                                   predictions["online_c2f"], "benchmark")
        if oracle:
            predictions |= oracle_predictions(params, frames, predictions["online"], str(d / "ground_truth.h5"), model,
                                              config, keypoint_set, out, seq)
        tables.append(evaluate_sequence(seq, predictions, d / "annotations.h5", d / "ground_truth.h5", [0.1, 0.15],
                                        keypoints.parts))
    table = pd.concat(tables)
    return table[table.variant.isin(VARIANTS + ORACLES)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", action="append", help="config file(s) merged in order (default config/config.yaml)")
    parser.add_argument("--run", action="append", required=True, metavar="DIR=SEED", help="a finished run and its seed")
    parser.add_argument("--variant", action="append", required=True, metavar="NAME=YAML")
    parser.add_argument("--keypoint-set", default=None, help="the set the runs were made with (default: the config's)")
    parser.add_argument("--oracle", action="store_true", help="also score c2f_coarse and online with the true "
                        "canonical offsets (the ceiling of any GCN on those estimates)")
    parser.add_argument("--generic", default="generic", help="folder of each run holding the generic image shards "
                        "C2F rehearses (e.g. shards re-rendered with generic_images.off_model)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    args.config = args.config or ["config/config.yaml"]
    config = workflow_config(args.config)
    keypoint_set = args.keypoint_set or config["keypoint_set"]
    runs = [(ROOT / d, int(s)) for d, _, s in (r.partition("=") for r in args.run)]
    sections = []
    with tempfile.TemporaryDirectory() as work:
        for text in args.variant:
            name, update = parse_variant(text)
            per_run = {seed: run_metrics(results, seed, config, keypoint_set, name, update, Path(work), args.generic,
                                         args.oracle)
                       for results, seed in runs}
            means = {seed: t.groupby(["variant", "metric", "split"]).value.mean().reset_index() for seed, t in per_run.items()}
            shown = VARIANTS + (ORACLES if args.oracle else ())
            table = spread_table(means, CELLS, shown)
            sections += [f"## `{name}`: c2f settings updated by `{text.partition('=')[2]}`", "",
                         table[[v for v in shown if v in table.columns]].to_markdown(), ""]
    command = " ".join(["python benchmarks/c2f_settings.py", *[f"--config {c}" for c in args.config],
                        *[f"--run {r}" for r in args.run], *[f"--variant '{v}'" for v in args.variant],
                        *([f"--keypoint-set {args.keypoint_set}"] if args.keypoint_set else []),
                        *([f"--generic {args.generic}"] if args.generic != "generic" else []),
                        *(["--oracle"] if args.oracle else []), "--out", args.out])
    lines = [f"# C2F stages under other settings ({', '.join(args.config)})", "",
             f"- date: {dt.datetime.now().isoformat(timespec='seconds')}", f"- machine: {machine()}",
             f"- command: `{command}`",
             f"- {len(runs)} run(s); each cell is mean ± std over runs of the mean over a run's test videos; "
             "`c2f_coarse`: the stage-3 network without its offsets; one torch thread", "", *sections]
    write_report(args.out, lines)


if __name__ == "__main__":
    main()
