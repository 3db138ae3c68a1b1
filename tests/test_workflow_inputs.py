"""Bad user input through the real workflow: the error names the offending file.

(The truncated-artifact case needs a finished run and lives in test_workflow_dag.py.)
"""

from __future__ import annotations

import numpy as np
import pytest

from smal4v.data.annotations import AnnotationSet, write_annotation_dir
from smal4v.model import load_keypoint_set
from workflow_helpers import TEST_CONFIG, copy_workflow, snakemake

SHEET = "config/test_sequences.tsv"


def _add_sheet_row(workdir, name: str, source: str, annotations: str, split: str = "test") -> None:
    with open(workdir / SHEET, "a") as sheet:
        sheet.write(f"{name}\tsmal4v\t{source}\t{annotations}\t{split}\t\n")


@pytest.fixture
def workflow(tmp_path):
    return copy_workflow(tmp_path / "workflow")


def test_sheet_row_with_a_missing_video_names_the_file(workflow):
    _add_sheet_row(workflow, "lost_00", "data/lost_00/video.mp4", "data/lost_00/annotations")
    result = snakemake(workflow, "--dry-run", "--configfile", TEST_CONFIG, timeout=120)
    assert result.returncode != 0
    assert "Missing input files" in result.stdout, result.stdout[-3000:]
    assert "data/lost_00/video.mp4" in result.stdout, result.stdout[-3000:]
    assert not (workflow / "results").exists()


def test_undecodable_video_fails_import_naming_the_file(workflow):
    """A source that exists but is not a video: the first job that opens it fails, and its log
    says which file and why."""
    names = load_keypoint_set("badja20").names
    keypoints = np.tile(np.array([[10.0, 20.0, 1.0]], dtype=np.float32), (len(names), 1))
    write_annotation_dir(workflow / "data/bad_00/annotations",
                         AnnotationSet("badja20", list(names), (64, 64), {0: keypoints}))
    (workflow / "data/bad_00/video.mp4").write_bytes(b"this is not an mp4 file\n" * 64)
    _add_sheet_row(workflow, "bad_00", "data/bad_00/video.mp4", "data/bad_00/annotations")

    result = snakemake(workflow, "results/sequences/bad_00/annotations.h5", "--cores", "1",
                       "--configfile", TEST_CONFIG, timeout=240)
    assert result.returncode != 0
    assert "Error in rule import_annotations" in result.stdout, result.stdout[-3000:]
    log = (workflow / "results/logs/import_annotations/bad_00.log").read_text()
    assert "data/bad_00/video.mp4" in log and "cannot be decoded" in log, log[-3000:]
    assert not (workflow / "results/sequences/bad_00/annotations.h5").exists()
