"""The published single-image protocol (METHOD.md 5) on hand-made examples."""

from __future__ import annotations

import numpy as np

from smal4v.evaluate.image_protocol import image_set_scores
from smal4v.evaluate.metrics import iou_ignoring_padding


def test_iou_ignores_padding_both_ways():
    gt = np.zeros((1, 4, 4), bool)
    gt[0, :2] = True  # top half
    pred = np.zeros((1, 4, 4), bool)
    pred[0, :3] = True  # one row too many ...
    in_image = np.ones((1, 4, 4), bool)
    in_image[0, 2:] = False  # ... but that row is padding
    assert iou_ignoring_padding(pred, gt, in_image)[0] == 1.0
    assert iou_ignoring_padding(pred, gt, np.ones_like(in_image))[0] == 8 / 12


def test_pck_by_sqrt_mask_area_per_part_and_skipping_unsegmented_images():
    masks = np.zeros((3, 10, 10), bool)
    masks[0, :4, :4] = True  # area 16 -> threshold 0.15 * 4 = 0.6 px
    masks[1, :, :] = True  # area 100 -> 1.5 px
    gt = np.zeros((3, 3, 3))
    gt[:, :, 2] = 1
    gt[1, 2, 2] = 0  # image 1: keypoint 2 invisible
    pred = gt[:, :, :2].copy()
    pred[0, 0] += [0.5, 0.0]  # hit (0.5 < 0.6)
    pred[0, 1] += [0.7, 0.0]  # miss at area 16
    pred[1, 1] += [1.4, 0.0]  # hit at area 100
    pred[1, 2] += [9.0, 9.0]  # invisible: not counted
    data = {"keypoints": gt, "masks": masks, "has_mask": np.array([True, True, False]),
            "in_image": np.ones((3, 10, 10), bool)}
    sil = masks.copy()
    scores = image_set_scores(pred, sil, data, {"legs": [0, 1], "face": [2]})
    np.testing.assert_allclose(scores["pck"], np.mean([2 / 3, 2 / 2]))  # image 2 (no segmentation) skipped
    np.testing.assert_allclose(scores["pck_legs"], np.mean([1 / 2, 2 / 2]))
    np.testing.assert_allclose(scores["pck_face"], 1.0)  # image 1 has no visible face point: NaN, skipped
    assert scores["iou"] == 1.0 and scores["images_scored"] == 2 and scores["images"] == 3
