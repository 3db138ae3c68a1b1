"""Image-mode training inputs: the training image sets become one FrameDataset, and the stage
list is checked before anything runs."""

from __future__ import annotations

import pytest

from dataset_fixtures import write_stanfordextra, write_tigdog
from smal4v.data.image_dataset import write_image_set
from smal4v.data.stanfordextra import read_stanfordextra
from smal4v.data.tigdog import read_tigdog
from smal4v.train.image_stages import check_stages, image_training_set, stage_settings


def test_training_sets_concatenate_with_mask_validity(tmp_path):
    fx = write_stanfordextra(tmp_path / "se")
    a = write_image_set(read_stanfordextra(fx.json, fx.images, fx.splits["train"]), tmp_path / "a.h5", "stanford_extra", 32)
    b = write_image_set(read_stanfordextra(fx.json, fx.images, fx.splits["test"]), tmp_path / "b.h5", "stanford_extra", 32)
    dataset, keypoint_set = image_training_set([str(a), str(b)])
    assert keypoint_set == "stanford_extra" and len(dataset) == 6 and dataset.images.shape[1:] == (32, 32, 3)
    assert dataset.mask_valid.tolist() == [True] * 5 + [False]  # test entry 4 has no segmentation
    td = write_tigdog(tmp_path / "td")
    c = write_image_set(read_tigdog(td.root, td.frames, "test"), tmp_path / "c.h5", "tigdog19", 32)
    with pytest.raises(ValueError, match=r"different keypoint sets \['stanford_extra', 'tigdog19'\]"):
        image_training_set([str(a), str(c)])


def test_stages_are_checked_by_name():
    stages = [{"name": "stage1", "epochs": 2}, {"name": "stage3", "lr": 1e-5}]
    assert check_stages(stages) == ["stage1", "stage3"] and stage_settings(stages, "stage3") == {"lr": 1e-5}
    with pytest.raises(ValueError, match=r"images\.stages\[stage1\]: unknown keys \['epoch'\]"):
        check_stages([{"name": "stage1", "epoch": 2}])
    with pytest.raises(ValueError, match="unique"):
        check_stages([{"name": "a"}, {"name": "a"}])
    with pytest.raises(KeyError, match="no stage 'stage2'"):
        stage_settings(stages, "stage2")
