"""Crop windows, crop <-> original maps, camera conversion and the frames artifact."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from smal4v.data import artifacts, cropping
from smal4v.data.frames import extract_frames


def test_point_maps_are_inverses_and_match_the_definition():
    rng = np.random.default_rng(1)
    windows = np.column_stack([rng.uniform(-50, 200, (5, 2)), rng.uniform(20, 300, 5)])
    pts = rng.uniform(0, 224, (5, 7, 2))
    orig = cropping.crop_to_original(pts, windows, 224)
    np.testing.assert_allclose(orig, windows[:, None, :2] + pts * windows[:, None, 2:3] / 224)
    np.testing.assert_allclose(cropping.original_to_crop(orig, windows, 224), pts, atol=1e-9)
    single = cropping.crop_to_original(pts[0], windows[0], 224)
    np.testing.assert_allclose(single, orig[0])


def test_crop_image_samples_the_mapped_pixels():
    # image value = 1000*row + col (exact for integer shifts with linear interpolation)
    h, w = 40, 50
    img = (np.arange(h)[:, None] * 1000 + np.arange(w)[None, :]).astype(np.float32)
    win = np.array([10.0, 5.0, 16.0])  # side == S: pure shift
    crop = cropping.crop_image(img, win, 16)
    np.testing.assert_array_equal(crop, img[5:21, 10:26])
    win2 = np.array([-4.0, 30.0, 16.0])  # partly outside: black padding
    crop2 = cropping.crop_image(img, win2, 16)
    assert (crop2[:, :4] == 0).all() and (crop2[10:] == 0).all()
    np.testing.assert_array_equal(crop2[:10, 4:], img[30:40, 0:12])


def test_crop_of_a_disc_lands_where_the_point_map_says():
    h, w, S = 120, 160, 64
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    centre = np.array([97.3, 41.8])
    mask = (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 <= 15**2
    win = np.array([60.0, 10.0, 90.0])
    crop = cropping.crop_mask(mask, win, S)
    cy, cx = np.argwhere(crop).mean(axis=0) + 0.5
    expected = cropping.original_to_crop(centre, win, S)
    np.testing.assert_allclose([cx, cy], expected, atol=0.3)
    back = cropping.uncrop_mask(crop, win, (h, w))
    assert (back & mask).sum() / (back | mask).sum() > 0.93


def test_full_camera_from_crop_projects_identically():
    rng = np.random.default_rng(2)
    pts = np.column_stack([rng.uniform(-1, 1, (10, 2)), rng.uniform(4, 8, 10)])
    win, S, f_crop = np.array([33.0, -12.0, 150.0]), 224, 700.0
    proj_crop = f_crop * pts[:, :2] / pts[:, 2:] + S / 2
    focal, principal = cropping.full_camera_from_crop(np.array([f_crop]), win, S)
    proj_full = focal[0] * pts[:, :2] / pts[:, 2:] + principal[0]
    np.testing.assert_allclose(cropping.crop_to_original(proj_crop, win, S), proj_full)
    np.testing.assert_allclose(principal[0], win[:2] + win[2] / 2)
    f2, p2 = cropping.crop_camera_from_full(focal, principal, win, S)
    np.testing.assert_allclose([f2[0], *p2[0]], [f_crop, S / 2, S / 2])


def test_boxes_interpolate_and_windows_smooth():
    boxes = np.full((5, 4), np.nan)
    boxes[1] = [10, 10, 20, 10]
    boxes[3] = [30, 10, 40, 30]
    filled = cropping.interpolate_boxes(boxes)
    np.testing.assert_allclose(filled[0], boxes[1])
    np.testing.assert_allclose(filled[4], boxes[3])
    np.testing.assert_allclose(filled[2], [20, 10, 30, 20])  # centre (35, 20), size (30, 20)
    win = cropping.crop_windows(filled, margin=1.5, smooth_sigma=0)
    np.testing.assert_allclose(win[2], [35 - 22.5, 20 - 22.5, 45])
    with pytest.raises(ValueError, match="no frame"):
        cropping.interpolate_boxes(np.full((2, 4), np.nan))
    kp = np.array([[0, 0, 1], [10, 20, 1], [500, 500, 0]], dtype=np.float32)
    np.testing.assert_allclose(cropping.bbox_from_keypoints(kp, pad=0.1), [-1, -2, 12, 24])


def test_extract_frames_follows_annotated_animal(tmp_path):
    n, h, w = 6, 60, 100
    frames = np.zeros((n, h, w, 3), np.uint8)
    masks = np.zeros((n, h, w), bool)
    for t in range(n):
        masks[t, 20:40, 10 + 8 * t : 30 + 8 * t] = True
        frames[t][masks[t]] = 255
    folder = tmp_path / "frames"
    folder.mkdir()
    for t in range(n):
        cv2.imwrite(str(folder / f"{t}.png"), frames[t])
    given = np.array([1, 0, 0, 0, 0, 1], bool)
    ann = tmp_path / "ann.h5"
    artifacts.write_artifact(ann, "annotations", {
        "keypoints": np.zeros((n, 2, 3), np.float32), "keypoint_split": np.zeros(n, np.uint8),
        "masks": masks & given[:, None, None], "masks_given": given,
    }, {"keypoint_set": "x", "keypoint_names": ["a", "b"]})
    out = extract_frames(folder, tmp_path / "frames.h5", crop_size=32, margin=1.0, bbox_source=ann,
                         smooth_sigma=0)
    got = artifacts.read_artifact(out, "frames")
    assert got["crops"].shape == (n, 32, 32, 3)
    assert np.isnan(got["bboxes"][1:5]).all() and np.allclose(got["bboxes"][0], [10, 20, 20, 20])
    # interpolated windows: centre moves 8 px/frame, linear between frames 0 and 5
    np.testing.assert_allclose(got["crop_boxes"][:, 0], 10 + 8 * np.arange(n), atol=1e-4)
    # with margin 1 the white square fills each crop
    assert got["crops"][:, 4:28, 4:28].min() == 255
    whole = artifacts.read_artifact(extract_frames(folder, tmp_path / "w.h5", crop_size=16), "frames")
    np.testing.assert_allclose(whole["crop_boxes"], np.tile([0, -20, 100], (n, 1)))
