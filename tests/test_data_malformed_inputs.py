"""Malformed annotation files and sequence sheets give errors naming the file and the entry
(never a bare AttributeError/ValueError from deep inside), and an empty mask is not a given mask."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from smal4v.data.annotations import FORMAT, AnnotationError, import_annotations
from smal4v.data.badja import read_badja_json
from smal4v.data.sheet import SheetError, load_sequence_sheet

NAMES = ["nose", "tail"]


def _keypoints_doc(frames) -> dict:
    return {"format": FORMAT, "keypoint_set": "k", "names": NAMES, "image_size": [32, 24], "frames": frames}


@pytest.mark.parametrize("doc, message", [
    (_keypoints_doc([[1, 2, 1]]), "'frames' must be an object"),
    (_keypoints_doc({"3": [["a", 2, 1], [1, 2, 1]]}), "frame 3: expected 2 rows of \\[x, y, visible\\], got \"\\[\\['a'"),
    (_keypoints_doc({"4": [[1, 2, 1], [1, 2]]}), "frame 4: expected 2 rows"),
    (_keypoints_doc({"5": [[1, [2], 1], [1, 2, 1]]}), "frame 5: expected 2 rows"),
    (_keypoints_doc({"6": "1 2 1"}), "frame 6: expected 2 rows"),
    (_keypoints_doc({"7": [[1, None, 1], [1, 2, 1]]}), "frame 7: expected 2 rows"),
    ({**_keypoints_doc({}), "keypoint_set": ["k"]}, "'keypoint_set' must be a string"),
])
def test_malformed_keypoints_json_names_file_and_frame(tmp_path: Path, doc: dict, message: str) -> None:
    (tmp_path / "keypoints.json").write_text(json.dumps(doc))
    with pytest.raises(AnnotationError, match=message) as err:
        import_annotations(tmp_path, 10, (32, 24))
    assert str(tmp_path / "keypoints.json") in str(err.value)


def test_empty_mask_is_not_a_given_mask(tmp_path: Path) -> None:
    (tmp_path / "masks").mkdir()
    full = np.zeros((24, 32), np.uint8)
    full[5:15, 5:20] = 255
    cv2.imwrite(str(tmp_path / "masks/000001.png"), full)
    cv2.imwrite(str(tmp_path / "masks/000004.png"), np.zeros((24, 32), np.uint8))
    datasets, _ = import_annotations(tmp_path, 6, (32, 24), keypoint_names=NAMES)
    assert datasets["masks_given"].tolist() == [False, True, False, False, False, False]
    assert datasets["masks"][1].sum() == 10 * 15


def _badja_entry(**change) -> dict:
    entry = {"image_path": "DAVIS/JPEGImages/Full-Resolution/camel/00000.jpg",
             "joints": [[10.0, 20.0]] * 37, "visibility": [1] * 37}
    return {**entry, **change}


@pytest.mark.parametrize("entry, message", [
    (_badja_entry(joints=[["a", "b"]] * 37), "'joints' must be 37 finite"),
    (_badja_entry(joints=[[1.0, 2.0]] * 36 + [[1.0]]), "'joints' must be 37 finite"),
    (_badja_entry(joints=[[1.0, [2.0]]] * 37), "'joints' must be 37 finite"),
    (_badja_entry(joints={"a": 1}), "'joints' must be 37 finite"),
    (_badja_entry(visibility=[[1]] * 37), "'visibility' must be 37 booleans"),
    (_badja_entry(image_path=None), "'image_path' must be a non-empty string"),
    (["not", "a", "dict"], "needs keys"),
])
def test_malformed_badja_entry_names_file_and_entry(tmp_path: Path, entry, message: str) -> None:
    path = tmp_path / "camel.json"
    path.write_text(json.dumps([_badja_entry(), entry]))
    with pytest.raises(AnnotationError, match=rf"BADJA json {path}, entry 1: {message}"):
        read_badja_json(path)


HEADER = "name\tformat\tsource\tannotations\tsplit\n"


@pytest.mark.parametrize("content, message", [
    (HEADER + "# a comment\na\tsmal4v\tv.mp4\tann\ttest\textra\tmore\n", "line 3: 7 tab-separated fields, but the header has 5"),
    ("", "not a tab-separated table"),
    (b"\xff\xfename\n", "not a tab-separated table"),
    (HEADER + "a\tsmal4v\tv.mp4\tann\tvalidation\n", "line 2: split 'validation'"),
])
def test_malformed_sheet_names_file_and_line(tmp_path: Path, content, message: str) -> None:
    path = tmp_path / "sheet.tsv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(SheetError, match=message) as err:
        load_sequence_sheet(path)
    assert str(path) in str(err.value)
