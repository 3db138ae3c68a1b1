"""AnimalKey importer on fixtures in the published temporal and single-frame layouts: frame
order by the integer after the last `_` (with dots in folder names), bboxes keyed with and
without `.jpg`, keypoint pickles read without running code, sparse/dense masks, the default
16 test sequences, and errors naming the file and entry."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest

from dataset_fixtures import H, W, save_keypoints, write_animalkey_frames, write_animalkey_sequence, write_mask
from smal4v.data.animalkey import (TEST_SEQUENCES, animalkey_sheet_rows, frame_number, import_animalkey_annotations,
                                   read_animalkey_frames, read_animalkey_sequence, write_animalkey_sheet)
from smal4v.data.annotations import AnnotationError
from smal4v.data.sheet import load_sequence_sheet
from smal4v.data.video import list_frame_files
from smal4v.model import load_keypoint_set

KPS = load_keypoint_set("animalkey30")


@pytest.fixture
def sequence(tmp_path):
    return write_animalkey_sequence(tmp_path / "data.v2" / "cows_training_set" / "_sequences" / "seq295_test")


def test_frame_number_ignores_dots_in_the_path():
    assert frame_number("../smalmv.v1/seq1/cow_0012.jpg") == 12
    assert frame_number("a.b/frame_7.v2.jpg") == 7
    with pytest.raises(AnnotationError, match="cow12.jpg: name must end in _<integer>"):
        frame_number("x/cow12.jpg")


def test_temporal_sequence_order_keypoints_masks_and_boxes(sequence):
    ann, boxes = read_animalkey_sequence(sequence.folder)
    assert [p.name for p in list_frame_files(sequence.folder)] == ["cow_1.jpg", "cow_2.jpg", "cow_10.jpg", "cow_11.jpg"]
    assert ann.image_size == (W, H) and ann.names == KPS.names and len(KPS) == 24
    assert sorted(ann.keypoints) == [0, 2, 3] and sorted(ann.masks) == [0, 2]  # sparse masks_gt
    raw = sequence.keypoints[2]
    mapped = ann.keypoints[2]
    np.testing.assert_allclose(mapped[:, :2], raw[KPS.source_indices, :2])  # original pixels, unchanged
    assert mapped[5, 2] == 0 and (mapped[5, :2] == 0).all() and mapped[:, 2].sum() == 23  # row 5 invisible
    np.testing.assert_array_equal(ann.masks[2], sequence.masks[2])
    ys, xs = np.nonzero(sequence.masks[1])
    np.testing.assert_allclose(boxes[1], [xs.min(), ys.min(), np.ptp(xs) + 1, np.ptp(ys) + 1])  # keyed without .jpg
    dense, _ = read_animalkey_sequence(sequence.folder, masks="osvos")
    assert sorted(dense.masks) == [0, 1, 2, 3]


def test_import_splits_keypoint_frames_into_train_and_heldout(sequence):
    datasets, attrs = import_animalkey_annotations(sequence.folder, None, 4, (W, H), heldout_every=2, offset=1)
    assert datasets["keypoint_split"].tolist() == [1, 0, 2, 1]
    assert datasets["masks_given"].tolist() == [True, False, True, False]
    assert attrs["keypoint_set"] == "animalkey30"
    short, _ = import_animalkey_annotations(sequence.folder, None, 2, (W, H), drop_out_of_range=True)  # max_frames 2
    assert short["keypoint_split"].tolist() == [1, 0] and short["masks_given"].tolist() == [True, False]
    with pytest.raises(AnnotationError, match="keypoints for frame 2 but the video has 2 frames"):
        import_animalkey_annotations(sequence.folder, None, 2, (W, H))


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def _drop_bbox_entry(folder):
    path = folder / "anno" / "bboxes.json"
    boxes = json.loads(path.read_text())
    del boxes["cow_10.jpg"]
    path.write_text(json.dumps(boxes))


def _pickle_exploit(folder):
    with open(folder / "anno" / "keypoints_gt" / "cow_1.pkl", "wb") as fh:
        pickle.dump(_Exploit(), fh)


MALFORMED = {
    "missing bbox entry": (_drop_bbox_entry, r"seq295_test/anno/bboxes\.json: no entry for frame 'cow_10\.jpg'"),
    "wrong array shape": (lambda f: save_keypoints(f / "anno" / "keypoints_gt" / "cow_2.pkl", np.zeros((30, 2))),
                          r"keypoints_gt/cow_2\.pkl: expected a numpy 30 x 3 .*got array \(30, 2\)"),
    "pickle that runs code": (_pickle_exploit, r"keypoints_gt/cow_1\.pkl: .*(not allowed|refused|posix|system)"),
    "keypoints of a missing frame": (lambda f: save_keypoints(f / "anno" / "keypoints_gt" / "cow_99.pkl", np.zeros((30, 3))),
                                     r"cow_99\.pkl: no frame 'cow_99'"),
    "mask of the wrong size": (lambda f: write_mask(f / "anno" / "masks_gt" / "cow_2.png", np.ones((H + 2, W), bool)),
                               r"masks_gt/cow_2\.png: size 80x62, frames are 80x60"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_sequence_names_the_file_and_entry(sequence, case):
    corrupt, message = MALFORMED[case]
    corrupt(sequence.folder)
    with pytest.raises(AnnotationError, match=message):
        read_animalkey_sequence(sequence.folder)


def test_sheet_rows_put_the_16_thesis_sequences_in_test(tmp_path):
    root = tmp_path / "_sequences"
    for name in ("seq100", "seq295_test", "seq489_test", "seq12", "notes"):
        (root / name).mkdir(parents=True)
    rows = animalkey_sheet_rows(root)
    assert [(r.name, r.split, r.format) for r in rows] == [
        ("seq12", "train", "animalkey"), ("seq100", "train", "animalkey"),
        ("seq295_test", "test", "animalkey"), ("seq489_test", "test", "animalkey")]
    assert len(TEST_SEQUENCES) == 16 and rows[2].annotations.endswith("seq295_test/anno")
    generic = tmp_path / "generic.tsv"
    generic.write_text("name\tformat\tsource\tannotations\tsplit\n"
                       "generic_00\tsynthetic\t{results}/demo/g/video.mp4\t{results}/demo/g/annotations\tgeneric\n")
    sheet = load_sequence_sheet(write_animalkey_sheet(root, tmp_path / "sheet.tsv", generic), "out")
    assert list(sheet) == ["generic_00", "seq12", "seq100", "seq295_test", "seq489_test"]
    assert sheet["generic_00"].source == "out/demo/g/video.mp4" and sheet["seq295_test"].split == "test"


def test_single_frame_layout_splits_by_sequence_prefix(tmp_path):
    frames = tmp_path / "_frames"
    kp = write_animalkey_frames(frames, unmasked=("seq100_00001.jpg",))
    train = read_animalkey_frames(frames, "train")
    test = read_animalkey_frames(frames, "test")
    assert [r.name for r in train] == ["seq100_00000.jpg", "seq100_00001.jpg"]
    assert [r.name for r in test] == ["seq295_00000.jpg", "seq295_00001.jpg", "seq301_00000.jpg", "seq301_00001.jpg"]
    np.testing.assert_array_equal(train[0].keypoints, kp["seq100_00000.jpg"])
    assert train[0].bbox is None and train[0].mask is not None  # box from the mask
    assert train[1].mask is None and train[1].bbox.tolist() == [0, 0, W, H]  # no mask: bboxes.json
    custom = tmp_path / "test_sequences.txt"
    custom.write_text("100\n")
    assert [r.name for r in read_animalkey_frames(frames, "test", custom)] == ["seq100_00000.jpg", "seq100_00001.jpg"]
    (frames / "kp" / "seq301_00001.pkl").unlink()
    with pytest.raises(AnnotationError, match=r"kp/seq301_00001\.pkl: file not found \(for image seq301_00001\.jpg\)"):
        read_animalkey_frames(frames, "test")


def test_evaluation_set_layout_uses_its_boxes(tmp_path):
    from smal4v.data.animalkey import read_animalkey_test_set

    folder = tmp_path / "cows_test_set"
    kp = write_animalkey_frames(folder, sequences=(7,), per_sequence=2, unmasked=("seq7_00001.jpg",))
    for sub, new in (("img", "."), ("kp", "annotations"), ("mask", "masks")):  # the eval set's own names
        for f in (folder / sub).iterdir():
            (folder / new).mkdir(exist_ok=True)
            f.rename(folder / new / f.name)
    records = read_animalkey_test_set(folder)
    assert [r.name for r in records] == ["seq7_00000.jpg", "seq7_00001.jpg"]
    np.testing.assert_array_equal(records[1].keypoints, kp["seq7_00001.jpg"])
    assert records[0].mask is not None and records[1].mask is None and records[0].bbox.tolist() == [0, 0, W, H]
