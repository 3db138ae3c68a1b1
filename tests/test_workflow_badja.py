"""The whole workflow on the real BADJA/DAVIS camel video with a short schedule (issue 5).

Uses config/badja.yaml as a user would, plus a tiny override (one synthetic generic clip, the
first 30 camel frames, 64-pixel crops, an epoch or two per stage).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from smal4v.data.artifacts import read_artifact
from workflow_helpers import REPO, check, copy_workflow, snakemake

SHARED = REPO.parent / "shared" / "data" / "badja-davis"
pytestmark = [pytest.mark.slow, pytest.mark.shared_data,
              pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data/badja-davis is absent")]
VARIANTS = ("base", "parent", "online_single", "online")


def _short_schedule(workdir: Path) -> str:
    """Write a sheet with absolute camel paths and a short-schedule override; return its path."""
    sheet = workdir / "config" / "camel_test.tsv"
    sheet.write_text(
        "name\tformat\tsource\tannotations\tsplit\tground_truth\n"
        "generic_00\tsynthetic\t{results}/demo/generic/generic_00/video.mp4\t{results}/demo/generic/generic_00/annotations\tgeneric\t{results}/demo/generic/generic_00/ground_truth.h5\n"
        f"camel\tbadja\t{SHARED}/DAVIS/JPEGImages/480p/camel\t{SHARED}/joint_annotations/camel.json\ttrain+test\t\n")
    override = {
        "sequences": str(sheet),
        "demo": {"generic": {"n_frames": 6, "image_size": [64, 64], "clutter": 10}},
        "generic_images": {"n_images": 12, "shards": 2, "environments": 2},
        "frames": {"crop_size": 64, "max_frames": 30},
        "network": {"image_size": 64, "feature_dim": 32},
        "base": {"epochs": 1, "batch_size": 6, "max_steps_per_epoch": 2},
        "parent": {"epochs": 2, "batch_size": 4, "loss": {"mask_size": 32}},
        "detector_adaptation": {"steps": 20},  # badja.yaml's interpolated neighbours stay on
        "online": {"epochs": 2, "warmup_epochs": 1, "hypothesis_steps": 5, "window": 4, "stride": 2, "gru_hidden": 32,
                   "loss": {"mask_size": 32}},
        "online_single": {"epochs": 2, "warmup_epochs": 1, "hypothesis_steps": 5, "window": 4, "stride": 2,
                          "loss": {"mask_size": 32}},
        "refine": {"epochs": 2, "steps_per_epoch": 2, "frames_per_step": 4, "loss": {"mask_size": 32}},
        "overlays": {"panel_height": 96, "gif_max_side": 256},
    }
    path = workdir / "config" / "camel_test.yaml"
    path.write_text(yaml.safe_dump(override))
    return str(path)


def test_camel_workflow_reports_heldout_pck_and_iou(tmp_path):
    workdir = copy_workflow(tmp_path)
    override = _short_schedule(workdir)
    check(snakemake(workdir, "--cores", "2", "--configfile", "config/badja.yaml", override, timeout=900))
    table = pd.read_csv(workdir / "results" / "badja" / "summary" / "metrics.csv")
    camel = table[table.sequence == "camel"]
    for variant in VARIANTS:
        rows = camel[camel.variant == variant].set_index(["metric", "split"])["value"]
        pck = rows[("pck@0.1_sqrt_area", "heldout")]
        iou = rows[("iou", "all")]
        assert 0.0 <= pck <= 1.0 and 0.0 <= iou <= 1.0, (variant, pck, iou)
        assert not math.isnan(rows[("jitter", "all")])
    # BADJA annotates camel frames 2, 7, 12, 17, 19, 23, 28 among the first 30: every second
    # one is held out, the others train the parent and the online networks.
    ann = read_artifact(workdir / "results" / "badja" / "sequences" / "camel" / "annotations.h5", "annotations")
    assert np.flatnonzero(ann["keypoint_split"] == 2).tolist() == [7, 17, 23]
    assert np.flatnonzero(ann["keypoint_split"] == 1).tolist() == [2, 12, 19, 28]
    assert set(camel.split) == {"train", "heldout", "all", "unseen"}  # unseen: IoU on frames without a given mask
    assert (workdir / "results" / "badja" / "sequences" / "camel" / "overlay.mp4").stat().st_size > 0
