"""StanfordExtra / Animal Pose importer on fixtures in the published layout (json, COCO RLE,
split .npy): counts, split order, crop coordinates, visibility, decoded masks, and errors that
name the file and entry."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dataset_fixtures import H, W, rle_counts, write_animal_pose, write_stanfordextra
from smal4v.data.annotations import AnnotationError
from smal4v.data.image_dataset import build_image_set
from smal4v.data.stanfordextra import decode_rle, read_stanfordextra, rle_run_lengths
from smal4v.model import load_keypoint_set

SIZE = 64


def test_rle_run_lengths_and_decode_match_pycocotools(tmp_path):
    fx = write_stanfordextra(tmp_path)
    for mask in fx.masks:
        counts = rle_counts(mask)
        runs = rle_run_lengths(counts)
        assert sum(runs) == H * W
        flat = mask.T.reshape(-1)  # COCO RLE runs over column-major pixels, starting with 0s
        assert runs[0] == int(np.argmax(flat)) and sum(runs[1::2]) == mask.sum()
        np.testing.assert_array_equal(decode_rle(counts, H, W, "x"), mask)


def test_split_file_selects_entries_in_its_order_with_masks_and_visibility(tmp_path):
    fx = write_stanfordextra(tmp_path)
    records = read_stanfordextra(fx.json, fx.images, fx.splits["test"])
    assert [r.name for r in records] == [fx.entries[i]["img_path"] for i in (5, 1, 4)]
    assert [r.mask is not None for r in records] == [True, True, False]  # entry 4 has no segmentation
    np.testing.assert_array_equal(records[1].mask(), fx.masks[1])  # the {size, counts} form
    kps = load_keypoint_set("stanford_extra")
    data = build_image_set(records, kps, SIZE)
    assert data["crops"].shape == (3, SIZE, SIZE, 3) and data["has_mask"].tolist() == [True, True, False]
    assert not data["masks"][2].any()
    # crop = 1.2 x max side of img_bbox, centred on it (independent arithmetic)
    for row, i in enumerate((5, 1, 4)):
        x, y, w, h = fx.entries[i]["img_bbox"]
        side = 1.2 * max(w, h)
        x0, y0 = x + w / 2 - side / 2, y + h / 2 - side / 2
        np.testing.assert_allclose(data["crop_boxes"][row], [x0, y0, side], atol=1e-4)
        joints = np.asarray(fx.entries[i]["joints"])[kps.source_indices]
        vis = joints[:, 2] > 0
        np.testing.assert_array_equal(data["keypoints"][row, :, 2] > 0, vis)
        np.testing.assert_allclose(data["keypoints"][row, vis, 0], (joints[vis, 0] - x0) * SIZE / side, atol=1e-3)
        np.testing.assert_allclose(data["keypoints"][row, vis, 1], (joints[vis, 1] - y0) * SIZE / side, atol=1e-3)
        assert (data["keypoints"][row, ~vis, :2] == 0).all()
    # the cropped mask has the original area scaled by (S / side)^2
    area = fx.masks[5].sum() * (SIZE / data["crop_boxes"][0, 2]) ** 2
    assert abs(data["masks"][0].sum() - area) / area < 0.1
    # in_image: crop pixels whose centre maps inside the image (independent computation)
    for row in range(3):
        x0, y0, side = data["crop_boxes"][row]
        centres = (np.arange(SIZE) + 0.5) * side / SIZE
        inside = ((y0 + centres >= 0) & (y0 + centres < H))[:, None] & ((x0 + centres >= 0) & (x0 + centres < W))[None]
        assert (data["in_image"][row] != inside).mean() < 3 / SIZE


def test_animal_pose_int32_split_and_pascal_names(tmp_path):
    fx = write_animal_pose(tmp_path)
    records = read_stanfordextra(fx.json, fx.images, fx.splits["test"])
    assert [r.name for r in records] == ["2007_000000.jpg", "2007_000001.jpg", "2007_000002.jpg"]
    assert all(r.mask is not None for r in records)


def _rewrite(fx, index: int, **changes) -> None:
    entries = json.loads(fx.json.read_text())
    entries[index].update(changes)
    fx.json.write_text(json.dumps(entries))


def test_rle_of_the_wrong_size_names_file_and_entry(tmp_path):
    fx = write_stanfordextra(tmp_path)
    small = rle_counts(np.zeros((H - 10, W), bool))
    _rewrite(fx, 5, seg=small)
    with pytest.raises(AnnotationError, match=r"StanfordExtra_v12\.json, entry 5 .*RLE covers 4000 pixels.*4800"):
        read_stanfordextra(fx.json, fx.images, fx.splits["test"])
    _rewrite(fx, 5, seg={"size": [H + 1, W], "counts": rle_counts(fx.masks[5])})
    with pytest.raises(AnnotationError, match=r"entry 5 .*RLE size \[61, 80\]"):
        read_stanfordextra(fx.json, fx.images, fx.splits["test"])


def test_missing_split_file_and_bad_indices_are_named(tmp_path):
    fx = write_stanfordextra(tmp_path)
    with pytest.raises(AnnotationError, match=r"split file .*val_stanford.*not found"):
        read_stanfordextra(fx.json, fx.images, tmp_path / "val_stanford_StanfordExtra_v12.npy")
    np.save(fx.splits["test"], np.array([1, 9]))
    with pytest.raises(AnnotationError, match=r"test_stanford_StanfordExtra_v12\.npy: index 9 outside the json's 6"):
        read_stanfordextra(fx.json, fx.images, fx.splits["test"])


def test_wrong_joints_shape_and_wrong_image_size_are_named(tmp_path):
    fx = write_stanfordextra(tmp_path)
    _rewrite(fx, 1, joints=[[1, 2, 1]] * 20)
    with pytest.raises(AnnotationError, match=r"entry 1 \(n02085620-Chihuahua/n02085620_0001\.jpg\): 'joints' must be 24"):
        read_stanfordextra(fx.json, fx.images, fx.splits["test"])
    fx = write_stanfordextra(tmp_path / "b")
    _rewrite(fx, 4, has_segmentation=True)
    with pytest.raises(AnnotationError, match=r"entry 4 .*'has_segmentation' is true but there is no 'seg'"):
        read_stanfordextra(fx.json, fx.images, fx.splits["test"])
    _rewrite(fx, 4, has_segmentation=False, img_width=W + 4)  # entry 4 has no RLE, so the image itself is checked
    records = read_stanfordextra(fx.json, fx.images, fx.splits["test"])
    with pytest.raises(AnnotationError, match=r"n02085620_0004\.jpg: size 80x60 differs from the annotated 84x60"):
        build_image_set(records, "stanford_extra", SIZE)


def test_image_sheet_rows_and_errors_name_file_and_line(tmp_path):
    from dataset_fixtures import IMAGE_SHEET_HEADER, image_sheet_line
    from smal4v.data.image_sheet import load_image_sheet
    from smal4v.data.sheet import SheetError

    sheet = tmp_path / "sets.tsv"
    good = image_sheet_line("se_test", "stanfordextra", "a.json", "Images", "test.npy")
    sheet.write_text("\n".join(["# comment", IMAGE_SHEET_HEADER, good]) + "\n")
    row = load_image_sheet(sheet)["se_test"]
    assert row.keypoint_set == "stanford_extra" and row.input_files() == ["a.json", "test.npy"]
    for bad, message in ((image_sheet_line("x", "coco", "a.json", "Images", "t.npy"), "format 'coco'"),
                         (image_sheet_line("x", "stanfordextra", "a.json", "Images", ""), "needs its split .npy"),
                         (image_sheet_line("x", "tigdog", "root", "", "", "val"), "split 'val'")):
        sheet.write_text("\n".join([IMAGE_SHEET_HEADER, good, bad]) + "\n")
        with pytest.raises(SheetError, match=rf"sets\.tsv, line 3: .*{message}"):
            load_image_sheet(sheet)
