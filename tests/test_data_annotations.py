"""The project annotation format: round trip, split rule and validation errors."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from smal4v.data.annotations import (
    SPLIT_HELDOUT, SPLIT_TRAIN, AnnotationError, AnnotationSet, import_annotations,
    read_annotation_dir, split_keypoint_frames, write_annotation_dir,
)

NAMES = ["nose", "tail", "paw"]


def _example(tmp_path):
    kps = {
        i: np.array([[10 + i, 5, 1], [20, 15, 1], [0, 0, 0]], dtype=np.float32) for i in (0, 4, 8, 12)
    }
    mask = np.zeros((30, 40), bool)
    mask[5:15, 10:25] = True
    ann = AnnotationSet("toy", NAMES, (40, 30), kps, {0: mask, 8: ~mask})
    return write_annotation_dir(tmp_path / "annotations", ann), ann


def test_round_trip_and_import(tmp_path):
    folder, ann = _example(tmp_path)
    back = read_annotation_dir(folder)
    assert back.names == NAMES and back.image_size == (40, 30) and back.keypoint_set == "toy"
    for i in ann.keypoints:
        np.testing.assert_array_equal(back.keypoints[i], ann.keypoints[i])
    np.testing.assert_array_equal(back.masks[8], ann.masks[8])
    ds, attrs = import_annotations(folder, n_frames=15, frame_size=(40, 30))
    assert ds["keypoints"].shape == (15, 3, 3) and ds["masks"].shape == (15, 30, 40)
    assert list(np.flatnonzero(ds["masks_given"])) == [0, 8]
    np.testing.assert_array_equal(ds["keypoints"][4], ann.keypoints[4])
    assert ds["keypoints"][5].sum() == 0
    split = ds["keypoint_split"]
    assert [split[i] for i in (0, 4, 8, 12)] == [SPLIT_TRAIN, SPLIT_HELDOUT, SPLIT_TRAIN, SPLIT_HELDOUT]
    assert split.sum() == 6 and attrs == {"keypoint_set": "toy", "keypoint_names": NAMES}


def test_split_rule():
    assert split_keypoint_frames([9, 3, 5], heldout_every=2, offset=0) == {3: 2, 5: 1, 9: 2}
    assert split_keypoint_frames([0, 1, 2, 3, 4, 5], 3, 2) == {0: 1, 1: 1, 2: 2, 3: 1, 4: 1, 5: 2}
    assert set(split_keypoint_frames([1, 2], 0).values()) == {SPLIT_TRAIN}


def _edit_json(folder, fn):
    path = folder / "keypoints.json"
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda d: d["frames"]["4"].pop(), r"frame 4: expected 3 rows"),
        (lambda d: d["frames"]["8"].__setitem__(1, [41, 2, 1]), r"frame 8: keypoint 'tail' at \(41, 2\) is outside the 40x30"),
        (lambda d: d.__setitem__("format", "other"), "'format'"),
        (lambda d: d["frames"].__setitem__("x", []), "frame key 'x'"),
        (lambda d: d["frames"]["0"].__setitem__(0, [1, 1, 3]), "'visible' must be 0 or 1"),
    ],
)
def test_json_errors_name_the_file(tmp_path, edit, match):
    folder, _ = _example(tmp_path)
    path = _edit_json(folder, edit)
    with pytest.raises(AnnotationError, match=match) as info:
        read_annotation_dir(folder)
    assert str(path) in str(info.value)


def test_mask_size_and_frame_range_errors(tmp_path):
    folder, _ = _example(tmp_path)
    with pytest.raises(AnnotationError, match="keypoints for frame 12 but the video has 10 frames"):
        import_annotations(folder, n_frames=10, frame_size=(40, 30))
    ds, _ = import_annotations(folder, n_frames=10, frame_size=(40, 30), drop_out_of_range=True)
    assert ds["keypoint_split"][12 - 10 :].shape == (8,)
    with pytest.raises(AnnotationError, match="differs from the video frame size 41x30"):
        import_annotations(folder, n_frames=15, frame_size=(41, 30))
    with pytest.raises(AnnotationError, match="keypoint names"):
        import_annotations(folder, 15, (40, 30), keypoint_names=["a", "b", "c"])
    cv2.imwrite(str(folder / "masks" / "000003.png"), np.zeros((31, 40), np.uint8))
    with pytest.raises(AnnotationError, match="000003.png: size 40x31 differs"):
        read_annotation_dir(folder)


def test_mask_only_annotations(tmp_path):
    folder = tmp_path / "ann"
    (folder / "masks").mkdir(parents=True)
    cv2.imwrite(str(folder / "masks" / "000002.png"), np.full((6, 8), 255, np.uint8))
    ds, attrs = import_annotations(folder, 4, (8, 6), keypoint_set="badja20", keypoint_names=["a"])
    assert ds["masks"][2].all() and not ds["masks"][1].any() and attrs["keypoint_names"] == ["a"]
    assert ds["keypoint_split"].sum() == 0
