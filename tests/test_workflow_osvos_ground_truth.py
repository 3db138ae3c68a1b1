"""Ground truth never reaches the OSVOS parent for a real (non-synthetic) training video:
only synthetic rows' ground_truth.h5 is an input of train_osvos_parent, and a sequence without
ground truth contributes only its given masks."""

from __future__ import annotations

import numpy as np

from smal4v.data import artifacts
from smal4v.segment.osvos import parent_training_pairs
from workflow_helpers import TEST_CONFIG, copy_workflow, scheduled


def test_real_training_row_gives_the_osvos_parent_no_ground_truth(tmp_path) -> None:
    workflow = copy_workflow(tmp_path / "workflow")
    (workflow / "data/real_00/annotations").mkdir(parents=True)
    (workflow / "data/real_00/video.mp4").write_bytes(b"")  # a dry run reads nothing
    (workflow / "data/real_00/annotations/keypoints.json").write_text("{}")
    with open(workflow / "config/test_sequences.tsv", "a") as sheet:
        sheet.write("real_00\tsmal4v\tdata/real_00/video.mp4\tdata/real_00/annotations\ttrain+test\t\n")
    jobs = scheduled(workflow, "--configfile", TEST_CONFIG, "--config", "silhouettes={method: osvos+flow}",
                     "--forceall")
    (parent,) = [job for job in jobs if job.rule == "train_osvos_parent"]
    inputs = parent.fields["input"]
    assert "sequences/real_00/frames.h5" in inputs and "sequences/real_00/annotations.h5" in inputs
    assert "sequences/real_00/ground_truth.h5" not in inputs, inputs
    for synthetic in ("generic_00", "cows_00"):  # synthetic rows keep their dense ground truth
        assert f"sequences/{synthetic}/ground_truth.h5" in inputs, inputs


def test_parent_pairs_use_given_masks_only_without_ground_truth(tmp_path) -> None:
    n, h, w = 6, 8, 8
    frames = np.arange(n * h * w * 3, dtype=np.uint8).reshape(n, h, w, 3)
    given = np.array([True, False, False, True, False, False])
    masks = np.zeros((n, h, w), bool)
    masks[given, 2:5, 2:5] = True
    truth = np.ones((n, h, w), bool)
    artifacts.write_artifact(tmp_path / "frames.h5", "frames", {
        "frames": frames, "crops": frames, "crop_boxes": np.zeros((n, 3)), "bboxes": np.zeros((n, 4))},
        {"fps": 25.0, "source": "x", "frame_names": [str(i) for i in range(n)]})
    artifacts.write_artifact(tmp_path / "annotations.h5", "annotations", {
        "keypoints": np.zeros((n, 2, 3)), "keypoint_split": np.zeros(n, np.uint8), "masks": masks,
        "masks_given": given}, {"keypoint_set": "k", "keypoint_names": ["a", "b"]})
    artifacts.write_artifact(tmp_path / "ground_truth.h5", "ground_truth", {
        "masks": truth, "has_mask": np.ones(n, bool), "keypoints": np.zeros((n, 2, 3))})
    images, targets = parent_training_pairs(tmp_path / "frames.h5", tmp_path / "annotations.h5")
    assert np.array_equal(images, frames[given]) and np.array_equal(targets, masks[given])
    images, targets = parent_training_pairs(tmp_path / "frames.h5", tmp_path / "annotations.h5", tmp_path / "ground_truth.h5")
    assert len(images) == n and targets.all()  # synthetic rows: every ground-truth mask
