"""TigDog importer on .mat fixtures (scipy.io.savemat) in the published layout: shots from
ranges.mat, MATLAB 1-based landmarks, per-frame masks, the split by shot, and errors naming the file."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from dataset_fixtures import write_tigdog
from smal4v.data.annotations import AnnotationError
from smal4v.data.image_dataset import build_image_set
from smal4v.data.tigdog import read_test_ids, read_tigdog


@pytest.fixture
def tigdog(tmp_path):
    return write_tigdog(tmp_path / "TigDog.v1")


def test_frames_of_each_shot_with_landmarks_in_smal4v_pixels(tigdog):
    test = read_tigdog(tigdog.root, tigdog.frames, "test")  # shot 3 (the first of the sorted ids)
    train = read_tigdog(tigdog.root, tigdog.frames, "train")  # shot 7 (frames 5, 6); frame 6 has an empty mask
    assert [r.name for r in test] == ["tiger/00000001.jpg", "tiger/00000002.jpg", "tiger/00000003.jpg"]
    assert [r.name for r in train] == ["tiger/00000005.jpg"]
    lm = tigdog.landmarks[3][1]
    vis = lm[:, 2] > 0
    np.testing.assert_allclose(test[1].keypoints[vis, :2], lm[vis, :2] - 0.5)  # MATLAB 1-based -> pixel centres
    assert test[1].keypoints[4, 2] == 0 and vis.sum() == 18
    np.testing.assert_array_equal(test[1].mask(), tigdog.masks[3][1])
    data = build_image_set(test, "tigdog19", 32)
    assert data["crops"].shape == (3, 32, 32, 3) and data["has_mask"].all() and data["keypoints"].shape == (3, 19, 3)


def test_split_by_shot_default_and_from_a_list(tmp_path):
    assert read_test_ids(None, [12, 3, 5, 7, 8, 9, 10, 11, 13, 14, 15, 16]) == {3, 15}
    ids = tmp_path / "test_ids.txt"
    ids.write_text("7")
    assert read_test_ids(ids, [3, 7]) == {7}
    with pytest.raises(AnnotationError, match="missing.txt: file not found"):
        read_test_ids(tmp_path / "missing.txt", [3])


def test_malformed_files_are_named(tigdog):
    (tigdog.root / "landmarks" / "tiger" / "7.mat").unlink()
    with pytest.raises(AnnotationError, match=r"landmarks/tiger/7\.mat: not found"):
        read_tigdog(tigdog.root, tigdog.frames, "train")
    cells = np.empty((3, 2), dtype=object)
    for f in range(3):
        cells[f, 0], cells[f, 1] = np.zeros((18, 2)), np.ones((18, 1))
    scipy.io.savemat(str(tigdog.root / "landmarks" / "tiger" / "3.mat"), {"landmarks": cells})
    with pytest.raises(AnnotationError, match=r"3\.mat, frame 0: kp must be 19 x 2"):
        read_tigdog(tigdog.root, tigdog.frames, "test")
    scipy.io.savemat(str(tigdog.root / "ranges" / "tiger" / "ranges.mat"), {"ranges": np.array([[3.0, 1.0]])})
    with pytest.raises(AnnotationError, match=r"ranges\.mat: expected rows \[id, first, last\]"):
        read_tigdog(tigdog.root, tigdog.frames, "test")
    scipy.io.savemat(str(tigdog.root / "ranges" / "tiger" / "ranges.mat"), {"ranges": np.array([[3.0, 1.0, 9.0]])})
    with pytest.raises(AnnotationError, match=r"(landmarks/tiger/3\.mat: expected a cell array of 9|needs frame 9)"):
        read_tigdog(tigdog.root, tigdog.frames, "test")
