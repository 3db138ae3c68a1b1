"""The base network's rendered generic images: exact crop-camera truth, variety, determinism, shards."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from smal4v.data.generic_images import GenericImageConfig, read_generic_images, render_generic_images, shard_size, write_generic_shard
from smal4v.evaluate.metrics import iou_per_frame
from smal4v.model import load_keypoint_set, load_model
from smal4v.render import Camera, rasterize_hard

CFG = {"image_size": 64, "environments": 2, "clutter": [0, 5]}


@pytest.fixture(scope="module")
def model():
    return load_model("procedural")


@pytest.fixture(scope="module")
def keypoints():
    return load_keypoint_set("badja20")


@pytest.fixture(scope="module")
def images(model, keypoints):
    return render_generic_images(model, keypoints, CFG, 24, seed=3)


def test_truth_reproduces_keypoints_and_masks(model, keypoints, images):
    """Posing the model with the stored crop-camera truth reproduces the stored keypoints and masks."""
    with torch.no_grad():
        out = model(torch.as_tensor(images.betas), torch.as_tensor(images.pose), torch.as_tensor(images.trans))
        cam = Camera(torch.as_tensor(images.focal), 64)
        xy = cam.project(keypoints.select(out, model)).numpy()
        sil = rasterize_hard(out.vertices, model.faces, cam).numpy()
    assert np.abs(xy - images.keypoints[..., :2]).max() < 1e-3
    assert iou_per_frame(sil, images.masks).min() > 0.98


def test_images_are_varied(images):
    """Several families and off-family shapes, views from many directions, animals framed like crops."""
    assert len(set(images.family)) >= 4
    R = torch.as_tensor(images.pose[:, 0])
    from smal4v.model.rotations import axis_angle_to_matrix

    forward = axis_angle_to_matrix(R)[:, :, 0].numpy()  # the model's forward axis in the camera frame
    azimuth = np.degrees(np.arctan2(forward[:, 2], forward[:, 0]))
    assert np.ptp(azimuth) > 180  # seen from the front, the back and both sides
    area = images.masks.reshape(len(images.masks), -1).mean(1)
    assert 0.05 < area.mean() < 0.6 and area.min() > 0.005
    assert 0.3 < images.keypoints[..., 2].mean() < 0.95  # self-occlusion hides some keypoints
    assert images.images.reshape(len(images.images), -1).std(1).min() > 5  # textured, not blank


def test_same_seed_same_images(model, keypoints, images):
    again = render_generic_images(model, keypoints, CFG, 24, seed=3)
    other = render_generic_images(model, keypoints, CFG, 4, seed=4)
    assert np.array_equal(again.images, images.images) and np.array_equal(again.pose, images.pose)
    assert not np.array_equal(other.images, images.images[:4])


def test_shards_split_the_set_and_round_trip(tmp_path):
    c = GenericImageConfig.from_dict({"n_images": 7, "shards": 3})
    assert [shard_size(c, s) for s in range(3)] == [3, 2, 2]
    with pytest.raises(ValueError, match="shard 3"):
        shard_size(c, 3)
    paths = []
    for s in range(2):
        paths.append(str(tmp_path / f"images_{s}.h5"))
        write_generic_shard(paths[-1], {**CFG, "n_images": 3, "shards": 2}, s, 48, "procedural", "badja20", 0, "test")
    both = read_generic_images(paths)
    assert both["images"].shape == (3, 48, 48, 3) and both["keypoints"].shape[0] == 3


def test_unknown_setting_is_named():
    with pytest.raises(ValueError, match="n_imgs"):
        GenericImageConfig.from_dict({"n_imgs": 3})


def test_off_model_animals_keep_the_draws_and_their_truth_reproduces_the_images(model, keypoints, images, tmp_path):
    """``off_model``: the same animals, poses and views (offsets come from their own stream), each
    with its own smooth offsets; posing the truth with them reproduces keypoints and masks, and
    the offsets survive a shard's round trip (stored as float16)."""
    off = render_generic_images(model, keypoints, {**CFG, "off_model": 1.0}, 6, seed=3)
    assert np.array_equal(off.betas, images.betas[:6]) and np.array_equal(off.pose[:, 1:], images.pose[:6, 1:])
    assert off.delta_v.shape == (6, int(model.num_vertices), 3) and images.delta_v is None
    size = np.linalg.norm(off.delta_v, axis=-1).max(1)
    assert (size > 0.001).all() and size.mean() > 0.02 and not np.allclose(off.delta_v[0], off.delta_v[1])
    with torch.no_grad():
        out = model(torch.as_tensor(off.betas), torch.as_tensor(off.pose), torch.as_tensor(off.trans), None,
                    torch.as_tensor(off.delta_v))
        cam = Camera(torch.as_tensor(off.focal), 64)
        xy = cam.project(keypoints.select(out, model)).numpy()
        sil = rasterize_hard(out.vertices, model.faces, cam).numpy()
    assert np.abs(xy - off.keypoints[..., :2]).max() < 1e-3
    assert iou_per_frame(sil, off.masks).min() > 0.98
    path = str(tmp_path / "images_0.h5")
    write_generic_shard(path, {**CFG, "off_model": 1.0, "n_images": 2, "shards": 1}, 0, 48, "procedural", "badja20", 0, "test")
    assert "delta_v" not in read_generic_images([path])  # read only when asked for
    read = read_generic_images([path], offsets=True)
    assert read["delta_v"].shape == (2, int(model.num_vertices), 3)
    assert np.linalg.norm(read["delta_v"], axis=-1).max() > 0.01
