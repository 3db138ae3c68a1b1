"""The whole Snakemake DAG on the tiny config (config/test.yaml), run for real in a temp dir.

One full run (module fixture) is shared: its artifacts are validated and cross-checked, and
copies of it (same modification times and Snakemake metadata) are changed to see what a dry
run would recompute, or broken to see the error a stage gives.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import h5py
import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from smal4v.data.artifacts import read_artifact
from smal4v.data.sheet import load_sequence_sheet, sequences_in_split
from smal4v.data.video import read_video, write_mp4
from smal4v.model import load_model
from smal4v.train.c2f import fuse_offsets
from smal4v.train.c2f_stages import online_c2f_offsets
from workflow_helpers import TEST_CONFIG, clone_run, job_counts, scheduled, snakemake

pytestmark = pytest.mark.slow

VARIANTS = ("base", "parent", "online_single", "online", "refined", "c2f", "online_c2f")
TRAINING_LOGS = ("train_base.log", "train_parent.log", "aggregate_metrics.log", "build_mesh_hierarchy.log",
                 "train_c2f_stage2.log", "train_c2f_stage3.log")
PER_SEQUENCE_JOBS = ("import_annotations", "extract_frames", "densify_silhouettes", "evaluate_silhouettes",
                     "encode_features", "train_online", "train_online_single", "refine", "evaluate", "render_overlays",
                     "export_mesh_animation", "predict_c2f", "train_online_c2f", "predict_online_c2f")


@pytest.fixture(scope="module")
def run(complete_test_run) -> Path:
    """A workflow directory after a complete ``snakemake --cores 2`` on the tiny config (shared
    with the Slurm and report tests, tests/conftest.py)."""
    return complete_test_run


@pytest.fixture(scope="module")
def config(run) -> dict:
    """The tiny override config (only the keys it sets)."""
    return yaml.safe_load((run / TEST_CONFIG).read_text())


@pytest.fixture(scope="module")
def splits(run, config) -> dict[str, list[str]]:
    sheet = load_sequence_sheet(run / config["sequences"])
    out = {split: sequences_in_split(sheet, split) for split in ("generic", "train", "test")}
    out["all"] = list(sheet)
    out["test_only"] = [s for s in out["test"] if s not in out["train"]]
    assert out["generic"] and out["train"] and len(out["test"]) >= 2 and out["test_only"], out
    return out


def _seq(run: Path, seq: str, name: str) -> Path:
    return run / "results" / "sequences" / seq / name


# ----------------------------------------------------------------------------- the full run


def test_every_artifact_exists_validates_and_agrees_in_size(run, config, splits):
    feature_dim = config["network"]["feature_dim"]
    for seq in splits["all"]:
        frames = read_artifact(_seq(run, seq, "frames.h5"), "frames")
        n, h, w = frames["frames"].shape[:3]
        assert frames["crops"].shape == (n, config["frames"]["crop_size"], config["frames"]["crop_size"], 3)
        ann = read_artifact(_seq(run, seq, "annotations.h5"), "annotations")
        gt = read_artifact(_seq(run, seq, "ground_truth.h5"), "ground_truth")
        assert ann["masks"].shape == gt["masks"].shape == (n, h, w), seq
        if seq in splits["train"] + splits["test"]:
            sil = read_artifact(_seq(run, seq, "silhouettes.h5"), "silhouettes")
            assert sil["masks"].shape == (n, h, w) and sil["masks"].any(axis=(1, 2)).all(), seq
        if seq in splits["test"]:
            # the evaluation split exists: some annotated frames train, others are held out
            assert {1, 2} <= set(np.unique(ann["keypoint_split"]).tolist()), seq
            assert read_artifact(_seq(run, seq, "features.h5"), "features")["features"].shape == (n, feature_dim)
            for variant in VARIANTS:
                pred = read_artifact(_seq(run, seq, f"predictions_{variant}.h5"), "predictions")
                assert pred["attrs"]["variant"] == variant
                assert pred["attrs"]["keypoint_names"] == ann["attrs"]["keypoint_names"]
                assert pred["keypoints_2d"].shape == (n, len(ann["attrs"]["keypoint_names"]), 2)
                assert np.isfinite(pred["keypoints_2d"]).all(), (seq, variant)
                assert pred["silhouettes"].shape == (n, h, w), (seq, variant)
                assert pred["vertices"].shape[0] == n
    leftovers = [p for p in (run / "results").rglob("*") if ".tmp-" in p.name or p.name.endswith(".work")]
    assert not leftovers, f"temporary files left behind: {leftovers}"


def test_models_loss_logs_and_rule_logs_are_written(run, config, splits):
    models = run / "results" / "models"
    for stage in ("base", "parent"):
        assert (models / f"{stage}.pt").stat().st_size > 0
        losses = pd.read_csv(models / f"{stage}_losses.csv")
        assert len(losses) == config[stage]["epochs"] and np.isfinite(losses["total"]).all(), stage
    for seq in splits["test"]:
        for variant in ("online", "online_single"):
            assert (models / variant / f"{seq}.pt").stat().st_size > 0
            losses = pd.read_csv(_seq(run, seq, f"{variant}_losses.csv"))
            assert len(losses) == config[variant]["epochs"] and np.isfinite(losses["total"]).all()
            assert _seq(run, seq, f"{variant}_losses.png").stat().st_size > 0
        refined = pd.read_csv(_seq(run, seq, "refined_losses.csv"))
        assert len(refined) == config["refine"]["epochs"] and np.isfinite(refined["silhouette"]).all()
        with h5py.File(_seq(run, seq, "predictions_refined.h5"), "r") as f:
            assert f["delta_v"].shape == f["vertices"].shape[1:]  # one offset field per video
    logs = run / "results" / "logs"
    for name in TRAINING_LOGS:
        assert (logs / name).is_file(), name
    for rule in PER_SEQUENCE_JOBS:
        for seq in splits["test"]:
            assert (logs / rule / f"{seq}.log").is_file(), (rule, seq)


def test_c2f_stages_and_the_online_c2f_offsets(run, config, splits):
    """C2F's stages 2 and 3 are trained, then the GCN on each test video (``c2f.online``); `c2f`
    meshes carry the GCN's per-frame offsets on its own estimate; `online_c2f` keeps the online
    estimate and adds the GCN's offsets: smoothed in time per frame (the config's ``c2f.fuse:
    smooth``), so its meshes change shape from frame to frame where the online network's do not."""
    models = run / "results" / "models"
    tables = [(stage, models / f"{name}.pt", models / f"c2f_{stage}_losses.csv")
              for stage, name in (("stage2", "c2f_stage2"), ("stage3", "c2f"))]
    tables += [("online", models / "online_c2f" / f"{seq}.pt", _seq(run, seq, "online_c2f_losses.csv"))
               for seq in splits["test"]]
    for stage, network, table in tables:
        assert network.stat().st_size > 0
        losses = pd.read_csv(table)
        assert len(losses) == config["c2f"][stage]["epochs"] and np.isfinite(losses["total"]).all(), stage
    terms = set(pd.read_csv(models / "c2f_stage3_losses.csv").columns)
    assert {"keypoints", "keypoints_refined", "silhouette", "silhouette_refined", "laplacian", "joint_limits"} <= terms
    model = load_model("procedural")
    c2f_cfg = {**yaml.safe_load((run / "config" / "config.yaml").read_text())["c2f"], **config["c2f"]}  # as merged
    for seq in splits["test"]:
        c2f = read_artifact(_seq(run, seq, "predictions_c2f.h5"), "predictions")
        coarse = model(*(torch.as_tensor(c2f[k]) for k in ("betas", "pose", "trans"))).vertices.numpy()
        assert np.abs(c2f["vertices"] - coarse).max() > 0, seq  # the GCN's offsets are in the meshes
        online = read_artifact(_seq(run, seq, "predictions_online.h5"), "predictions")
        fused = read_artifact(_seq(run, seq, "predictions_online_c2f.h5"), "predictions")
        for key in ("betas", "pose", "trans", "focal", "principal"):
            np.testing.assert_array_equal(fused[key], online[key])
        assert c2f_cfg["fuse"] == "smooth" and "delta_v" not in fused  # per frame: only the meshes are stored
        _, offsets, base = online_c2f_offsets(str(models / "online_c2f" / f"{seq}.pt"), str(models / "mesh_hierarchy.npz"),
                                              str(_seq(run, seq, "frames.h5")), str(_seq(run, seq, "predictions_online.h5")),
                                              c2f_cfg, "procedural", "cpu")
        assert (offsets - offsets.median(0).values).abs().max() > 1e-5, seq  # the GCN's offsets differ per frame
        np.testing.assert_array_equal(base.numpy(), online["delta_v"])  # on top of the online network's own shape
        delta_v = base + fuse_offsets(offsets, "smooth", c2f_cfg["fuse_sigma"])
        again = model(*(torch.as_tensor(fused[k]) for k in ("betas", "pose", "trans")), None, delta_v).vertices
        np.testing.assert_allclose(again.numpy(), fused["vertices"], atol=1e-5)
        assert np.abs(fused["vertices"] - online["vertices"]).max() > 0, seq


def test_base_network_is_trained_with_3d_supervision(run):
    """The base network learns from the generic set's 3D ground truth (issue 3 / METHOD.md):
    its per-epoch loss table must carry the 3D parameter terms, not only the 2D ones."""
    columns = set(pd.read_csv(run / "results" / "models" / "base_losses.csv").columns)
    missing = {"betas", "pose"} - columns
    assert not missing, (f"base training logged only {sorted(columns)}: the 3D loss weights are 0 "
                         "(config/config.yaml `base:` sets no `weights`)")


def test_metrics_table_has_every_variant_with_finite_values(run, splits):
    table = pd.read_csv(run / "results" / "summary" / "metrics.csv")
    assert list(table.columns[:5]) == ["sequence", "variant", "metric", "value", "split"]
    assert set(table["variant"]) == set(VARIANTS) | {"densify_propagate", "keypoints_interpolated"}
    assert set(table["split"]) <= {"heldout", "train", "all", "unseen"}
    densify = table[(table.variant == "densify_propagate") & (table.sequence != "mean")]
    for seq in splits["test"]:  # J and F of the silhouette densification, on frames not given
        rows = densify[densify.sequence == seq].set_index("metric")["value"]
        assert 0.0 <= rows["J"] <= 1.0 and 0.0 <= rows["F"] <= 1.0, (seq, rows)
    assert set(splits["test"]) <= set(table["sequence"])
    indexed = table.set_index(["sequence", "variant", "metric", "split"])["value"]
    assert indexed.index.is_unique
    for seq in splits["test"]:
        for variant in VARIANTS:
            iou = indexed[(seq, variant, "iou", "all")]
            jitter = indexed[(seq, variant, "jitter", "all")]
            pck = indexed[(seq, variant, "pck@0.1_sqrt_area", "heldout")]
            assert 0.0 <= iou <= 1.0 and np.isfinite(jitter) and jitter >= 0.0, (seq, variant, iou, jitter)
            assert 0.0 <= pck <= 1.0, (seq, variant, pck)
    assert (run / "results" / "summary" / "metrics_mean.csv").stat().st_size > 0
    assert list((run / "results" / "summary" / "plots").glob("*.png"))


def _pck_01(kp: np.ndarray, gt_kp: np.ndarray, gt_masks: np.ndarray, frames: np.ndarray) -> float:
    """Mean over ``frames`` with a visible keypoint of the share within 0.1 sqrt(mask area)."""
    scores = []
    for n in frames:
        visible = gt_kp[n, :, 2] > 0
        if visible.any():
            dist = np.linalg.norm(kp[n] - gt_kp[n, :, :2], axis=-1)
            scores.append((dist[visible] < 0.1 * np.sqrt(gt_masks[n].sum())).mean())
    return float(np.mean(scores))


def _straight_lines(kp: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Each keypoint joined between its visible training frames (held at the ends); one never
    seen in training at the frame's mean of the others."""
    frames = np.arange(len(kp))
    lines = np.full(kp.shape[:2] + (2,), np.nan)
    for j in range(kp.shape[1]):
        known = frames[train & (kp[:, j, 2] > 0)]
        if len(known):
            lines[:, j] = np.stack([np.interp(frames, known, kp[known, j, c]) for c in (0, 1)], -1)
    unknown = np.isnan(lines[..., 0])
    lines[unknown] = np.broadcast_to(np.nanmean(lines, axis=1)[:, None], lines.shape)[unknown]
    return lines


def test_metrics_match_an_independent_numpy_computation(run, splits):
    """IoU (every frame and frames without a given mask), jitter, held-out PCK@0.1 and PCK@0.1
    on every frame whose keypoints training did not see, recomputed from the HDF5 files."""
    table = pd.read_csv(run / "results" / "summary" / "metrics.csv")
    seq = splits["test_only"][0]
    with h5py.File(_seq(run, seq, "ground_truth.h5"), "r") as f:
        gt_masks, has_mask, dense_kp = f["masks"][()], f["has_mask"][()], f["keypoints"][()]
    with h5py.File(_seq(run, seq, "annotations.h5"), "r") as f:
        gt_kp, kp_split, given = f["keypoints"][()], f["keypoint_split"][()], f["masks_given"][()]
    assert (~given).any() and (kp_split != 1).sum() > (kp_split == 2).sum()
    for variant in VARIANTS:
        with h5py.File(_seq(run, seq, f"predictions_{variant}.h5"), "r") as f:
            sil, kp = f["silhouettes"][()], f["keypoints_2d"][()].astype(np.float64)
        ious = np.array([(a & b).sum() / (a | b).sum() for a, b in zip(sil, gt_masks)])
        jitter = np.linalg.norm(kp[2:] - 2 * kp[1:-1] + kp[:-2], axis=-1).mean()
        rows = table[(table.sequence == seq) & (table.variant == variant)].set_index(["metric", "split"])["value"]
        assert rows[("iou", "all")] == pytest.approx(ious[has_mask].mean(), abs=1e-9), variant
        assert rows[("iou", "unseen")] == pytest.approx(ious[has_mask & ~given].mean(), abs=1e-9), variant
        assert rows[("jitter", "all")] == pytest.approx(jitter, rel=1e-6), variant
        held = _pck_01(kp, gt_kp, gt_masks, np.flatnonzero(kp_split == 2))
        assert rows[("pck@0.1_sqrt_area", "heldout")] == pytest.approx(held, abs=1e-9), variant
        unseen = _pck_01(kp, dense_kp, gt_masks, np.flatnonzero(kp_split != 1))
        assert rows[("pck@0.1_sqrt_area", "unseen")] == pytest.approx(unseen, abs=1e-9), variant
    # the reference: each keypoint on a straight line between its training frames
    lines = _straight_lines(gt_kp, kp_split == 1)
    rows = table[(table.sequence == seq) & (table.variant == "keypoints_interpolated")].set_index(["metric", "split"])["value"]
    assert rows[("pck@0.1_sqrt_area", "heldout")] == pytest.approx(_pck_01(lines, gt_kp, gt_masks, np.flatnonzero(kp_split == 2)), abs=1e-9)


def test_overlay_video_gif_and_meshes_cover_every_frame(run, config, splits):
    for seq in splits["test"]:
        n = read_artifact(_seq(run, seq, "frames.h5"), "frames", ["crop_boxes"])["crop_boxes"].shape[0]
        video = read_video(_seq(run, seq, "overlay.mp4"))
        assert video.frames.shape[0] == n and video.frames.shape[1] == config["overlays"]["panel_height"]
        assert video.frames.shape[2] > len(VARIANTS) * video.frames.shape[1] // 2, "input + variants side by side"
        assert iio.imread(_seq(run, seq, "overlay.gif"), index=None).shape[0] == n
        with h5py.File(_seq(run, seq, "predictions_online.h5"), "r") as f:
            vertices = f["vertices"][()]
        objs = sorted(_seq(run, seq, "meshes_online").glob("*.obj"))
        assert len(objs) == n, seq
        first = np.array([line.split()[1:4] for line in objs[0].read_text().splitlines() if line.startswith("v ")],
                         dtype=np.float64)
        np.testing.assert_allclose(first, vertices[0], atol=1e-5)


# ----------------------------------------------------------------------------- what reruns


def test_nothing_is_scheduled_after_a_complete_run(run):
    assert scheduled(run, "--configfile", TEST_CONFIG) == []


def test_changed_video_reruns_only_that_sequence(run, splits, tmp_path):
    """A real content change of one test video (a bare touch is not enough for Snakemake 9):
    only that sequence's chain and the aggregate rerun; base, parent and the other sequences
    stay as they are."""
    work = clone_run(run, tmp_path / "clone")
    seq = splits["test_only"][0]
    source = work / load_sequence_sheet(work / "config/test_sequences.tsv")[seq].source
    before = source.read_bytes()
    video = read_video(source)
    write_mp4(source, np.clip(video.frames.astype(np.int16) + 3, 0, 255).astype(np.uint8), fps=video.fps)
    assert source.read_bytes() != before

    got = job_counts(scheduled(work, "--configfile", TEST_CONFIG))
    expected = Counter({(rule, seq): 1 for rule in PER_SEQUENCE_JOBS})
    expected.update({("predict", seq): 2, ("aggregate_metrics", ""): 1, ("report_tables", ""): 1, ("all", ""): 1})
    assert got == expected


def test_online_config_edit_reruns_online_training_onwards(run, splits, tmp_path):
    """Editing `online` settings reruns train_online per test sequence and what consumes its
    predictions, not frame extraction, densification, base, parent or online_single."""
    work = clone_run(run, tmp_path / "clone")
    cfg_path = work / TEST_CONFIG
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["online"]["epochs"] += 1
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))

    jobs = scheduled(work, "--configfile", TEST_CONFIG)
    rules = ("train_online", "refine", "train_online_c2f", "predict_online_c2f", "evaluate", "render_overlays",
             "export_mesh_animation")
    expected = Counter({(rule, seq): 1 for seq in splits["test"] for rule in rules})
    expected.update({("aggregate_metrics", ""): 1, ("report_tables", ""): 1, ("all", ""): 1})
    assert job_counts(jobs) == expected
    for job in jobs:
        if job.rule == "train_online":
            assert "param" in job.fields.get("reason", "").lower(), job.fields


# ----------------------------------------------------------------------------- broken artifacts


def test_truncated_frames_artifact_fails_downstream_naming_the_file(run, splits, tmp_path):
    work = clone_run(run, tmp_path / "clone")
    seq = splits["test_only"][0]
    frames = _seq(work, seq, "frames.h5")
    data = frames.read_bytes()
    frames.write_bytes(data[: len(data) // 2])

    target = f"results/sequences/{seq}/silhouettes.h5"
    result = snakemake(work, target, "--force", "--cores", "1", "--configfile", TEST_CONFIG, timeout=300)
    assert result.returncode != 0
    assert "Error in rule densify_silhouettes" in result.stdout, result.stdout[-3000:]
    log = (work / "results" / "logs" / "densify_silhouettes" / f"{seq}.log").read_text()
    assert "ArtifactError" in log and f"results/sequences/{seq}/frames.h5" in log, log[-3000:]
    assert not (work / target).exists()
