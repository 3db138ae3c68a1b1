"""The image-dataset mode through real Snakemake: StanfordExtra (train + test), Animal Pose,
AnimalKey frames and TigDog fixtures are imported, the single-frame network is fine-tuned on the
training set and every test set is scored with the published protocol; the summary values are
recomputed here from the artifacts with numpy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dataset_fixtures import (IMAGE_SHEET_HEADER, image_sheet_line, write_animal_pose, write_animalkey_frames,
                              write_stanfordextra, write_tigdog)
from smal4v.data import artifacts
from smal4v.model import load_keypoint_set
from workflow_helpers import TEST_CONFIG, check, copy_workflow, snakemake

pytestmark = pytest.mark.slow

OVERRIDE = """
sequences: config/images_only_sequences.tsv
images:
  sheet: data/image_sets.tsv
  init: none            # stage 1 from a fresh network (no base chain: keeps the test short)
  variants: []
  stages:
    - {name: stage1, epochs: 1, batch_size: 4, max_steps_per_epoch: 1, loss: {mask_size: 32},
       weights: {keypoints: 10, silhouette: 0, pose_prior: 1, shape_prior: 1}}
"""


def write_image_sets(data):
    """Fixtures of every image format and the image-set sheet listing them."""
    se = write_stanfordextra(data / "StanfordExtra")
    ap = write_animal_pose(data / "animal_pose")
    write_animalkey_frames(data / "animalkey" / "_frames")
    td = write_tigdog(data / "TigDog")
    lines = [IMAGE_SHEET_HEADER,
             image_sheet_line("stanfordextra_train", "stanfordextra", se.json, se.images, se.splits["train"], "train"),
             image_sheet_line("stanfordextra_test", "stanfordextra", se.json, se.images, se.splits["test"]),
             image_sheet_line("animal_pose_test", "animal_pose", ap.json, ap.images, ap.splits["test"]),
             image_sheet_line("animalkey_frames_test", "animalkey_frames", data / "animalkey" / "_frames"),
             image_sheet_line("tigdog_tiger_test", "tigdog", td.root, td.frames)]
    (data / "image_sets.tsv").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work = copy_workflow(tmp_path_factory.mktemp("images"))
    write_image_sets(work / "data")
    generic = (work / "config" / "test_sequences.tsv").read_text().splitlines()[:2]  # header + generic_00
    (work / "config" / "images_only_sequences.tsv").write_text("\n".join(generic) + "\n")
    (work / "override.yaml").write_text(OVERRIDE)
    check(snakemake(work, "--cores", "2", "--configfile", TEST_CONFIG, "override.yaml", timeout=600))
    return work


def test_summary_has_every_test_set_and_variant(run):
    table = pd.read_csv(run / "results" / "summary" / "image_metrics.csv")
    sets = ["stanfordextra_test", "animal_pose_test", "animalkey_frames_test", "tigdog_tiger_test"]
    assert sorted(set(table.image_set)) == sorted(sets)
    assert set(table.variant) == {"images_stage1"}
    scored = table[table.metric == "images_scored"].set_index("image_set").value
    assert scored["stanfordextra_test"] == 2  # 3 test images, one without segmentation
    assert scored["animal_pose_test"] == 3 and scored["tigdog_tiger_test"] == 3
    iou = table[table.metric == "iou"].value
    assert ((iou >= 0) & (iou <= 1)).all()
    wide = (run / "results" / "summary" / "image_metrics.md").read_text()
    assert wide.splitlines()[0].startswith("| image_set | variant | iou | pck | pck_legs | pck_tail | pck_ears | pck_face")


def test_published_pck_and_iou_match_numpy(run):
    folder = run / "results" / "images" / "stanfordextra_test"
    data = artifacts.read_artifact(folder / "images.h5", "image_set")
    pred = artifacts.read_artifact(folder / "predictions_images_stage1.h5", "predictions")
    table = pd.read_csv(folder / "metrics_images_stage1.csv").set_index("metric").value
    kps = load_keypoint_set("stanford_extra")
    per_image, per_legs, ious = [], [], []
    for n in np.flatnonzero(data["has_mask"]):
        gt, vis = data["keypoints"][n], data["keypoints"][n, :, 2] > 0
        thr = 0.15 * np.sqrt(data["masks"][n].sum())
        hit = np.linalg.norm(pred["keypoints_2d"][n] - gt[:, :2], axis=1) < thr
        per_image.append(hit[vis].mean())
        legs = np.array(kps.parts["legs"])
        per_legs.append(hit[legs][vis[legs]].mean())
        p = pred["silhouettes"][n]
        g = np.where(data["in_image"][n], data["masks"][n], p)
        ious.append((p & g).sum() / (p | g).sum())
    np.testing.assert_allclose(table["pck"], np.mean(per_image), atol=1e-9)
    np.testing.assert_allclose(table["pck_legs"], np.mean(per_legs), atol=1e-9)
    np.testing.assert_allclose(table["iou"], np.mean(ious), atol=1e-9)


def test_stage_trained_on_the_training_set(run):
    losses = pd.read_csv(run / "results" / "models" / "images_stage1_losses.csv")
    assert len(losses) == 1 and np.isfinite(losses.filter(like="keypoints").to_numpy()).all()
    train = artifacts.read_artifact(run / "results" / "images" / "stanfordextra_train" / "images.h5", "image_set", ["crops"])
    assert train["crops"].shape[0] == 3 and train["attrs"]["image_names"][0].endswith("n02085620_0000.jpg")
