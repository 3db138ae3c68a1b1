"""The published-setting configs (config/animalkey_cows.yaml, stanfordextra_c2f.yaml, tigdog.yaml)
dry-run on fixture data laid out where they expect it, and AnimalKey sequences import through
the workflow (annotations.h5 and frames.h5 from the temporal layout)."""

from __future__ import annotations

import numpy as np
import pytest

from dataset_fixtures import (write_animal_pose, write_animalkey_frames, write_animalkey_sequence, write_stanfordextra,
                              write_tigdog)
from smal4v.data import artifacts
from smal4v.data.animalkey import write_animalkey_sheet
from smal4v.model import load_keypoint_set
from workflow_helpers import check, copy_workflow, job_counts, scheduled, snakemake

AK_ROOT = "data/animalkey/cows/cows_training_set"


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    """A copy of the workflow with every dataset's fixture where the configs point."""
    work = copy_workflow(tmp_path_factory.mktemp("dataset_configs"))
    write_stanfordextra(work / "data" / "StanfordExtra_v12")
    write_animal_pose(work / "data" / "animal_pose")
    for animal in ("tiger", "horse"):
        write_tigdog(work / "data" / "TigDog", animal)
    sequences = work / AK_ROOT / "_sequences"
    write_animalkey_sequence(sequences / "seq100")
    write_animalkey_sequence(sequences / "seq295_test")
    write_animalkey_frames(work / AK_ROOT / "_frames")
    write_animalkey_sheet(sequences, work / "config" / "animalkey_cows_sequences.tsv", work / "config" / "generic_sequences.tsv")
    return work


def test_stanfordextra_c2f_config_dry_runs(workflow):
    counts = job_counts(scheduled(workflow, "--configfile", "config/stanfordextra_c2f.yaml"))
    assert counts[("import_image_set", "")] == 3 and counts[("train_image_stage", "")] == 2
    assert counts[("evaluate_image_set", "")] == 2 * 3  # 2 test sets x (base, stage1, stage3)
    assert counts[("train_base", "")] == 1 and counts[("aggregate_image_metrics", "")] == 1
    assert not any(rule == "train_parent" for rule, _ in counts)


def test_tigdog_config_dry_runs(workflow):
    counts = job_counts(scheduled(workflow, "--configfile", "config/tigdog.yaml"))
    assert counts[("import_image_set", "")] == 4 and counts[("train_image_stage", "")] == 1
    assert counts[("evaluate_image_set", "")] == 2 * 2


def test_animalkey_config_dry_runs_with_the_thesis_split(workflow):
    counts = job_counts(scheduled(workflow, "--configfile", "config/animalkey_cows.yaml"))
    assert counts[("train_parent", "")] == 1
    assert counts[("train_online", "seq295_test")] == 1 and counts[("train_online", "seq100")] == 0
    assert counts[("import_annotations", "seq100")] == 1  # a training sequence: its frames fine-tune the parent
    assert counts[("evaluate_image_set", "")] == 2  # base and parent on the _frames test split


@pytest.mark.slow
def test_animalkey_sequence_imports_through_the_workflow(workflow):
    seq = "results/animalkey/sequences/seq295_test"
    check(snakemake(workflow, f"{seq}/annotations.h5", f"{seq}/frames.h5", "--cores", "2",
                    "--configfile", "config/animalkey_cows.yaml", timeout=600))
    ann = artifacts.read_artifact(workflow / seq / "annotations.h5", "annotations")
    frames = artifacts.read_artifact(workflow / seq / "frames.h5", "frames", ["crops"])
    assert frames["attrs"]["frame_names"] == ["cow_1", "cow_2", "cow_10", "cow_11"]  # numeric, not text order
    fixture = write_animalkey_sequence(workflow / "tmp_expected" / "seq295_test")  # the same seeds: same values
    kps = load_keypoint_set("animalkey30")
    for frame, raw in fixture.keypoints.items():
        expected = raw[kps.source_indices].astype(np.float32)
        expected[expected[:, 2] == 0, :2] = 0
        np.testing.assert_allclose(ann["keypoints"][frame], expected, atol=1e-4)
    assert ann["keypoint_split"].tolist() == [1, 0, 2, 1] and ann["masks_given"].tolist() == [True, False, True, False]
    assert frames["crops"].shape == (4, 224, 224, 3)
