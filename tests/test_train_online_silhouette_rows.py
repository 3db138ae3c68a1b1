"""Silhouettes of a random subset of each window's frames (``online.silhouette_frames``): the
subset is what a full render gives for those rows, the rows are drawn per window, and the loss
compares each rendered row with its own frame's mask."""

from __future__ import annotations

import numpy as np
import torch

from online_helpers import random_parent

from smal4v.model import load_keypoint_set, load_model
from smal4v.nets.params import SMALParams
from smal4v.nets.temporal import build_online_net
from smal4v.train.config import OnlineTrainConfig
from smal4v.train.losses import silhouette_loss
from smal4v.train.online import SequenceData, silhouette_rows, window_losses
from smal4v.train.scene import Priors, Scene


def test_rows_are_per_window_sorted_and_distinct():
    rows = silhouette_rows(3, 16, 4, torch.Generator().manual_seed(0))
    assert rows is not None and rows.tolist() == sorted(rows.tolist())
    per_window = np.bincount(rows.numpy() // 16, minlength=3)
    assert per_window.tolist() == [4, 4, 4]
    assert len(set(rows.tolist())) == 12


def test_zero_or_a_whole_window_means_every_frame():
    gen = torch.Generator().manual_seed(0)
    assert silhouette_rows(2, 16, 0, gen) is None
    assert silhouette_rows(2, 16, 16, gen) is None


def test_subset_render_equals_those_rows_of_the_full_render():
    torch.set_num_threads(1)
    model, kps = load_model("procedural"), load_keypoint_set("badja20")
    n = 5
    pose = torch.zeros(n, 35, 3)
    pose[:, 0, 1] = torch.linspace(-1.0, 1.0, n)  # a turning animal: every row differs
    params = SMALParams(torch.zeros(n, 20), pose, torch.tensor([[0.0, 0.0, 3.0]]).repeat(n, 1),
                        torch.linspace(90.0, 130.0, n))
    scene = Scene(model, kps, 64, 32)
    with torch.no_grad():
        full = scene(params).silhouette
        rows = torch.tensor([1, 4])
        part = scene(params, silhouette_rows=rows)
    assert part.silhouette.shape == (2, 32, 32)
    assert torch.allclose(part.silhouette, full[rows], atol=1e-6)
    assert torch.equal(part.keypoints, scene(params, silhouette=False).keypoints)  # keypoints of every row
    assert not torch.allclose(full[1], full[4], atol=1e-3)


def test_window_loss_compares_each_rendered_row_with_its_own_mask():
    """The silhouette term over a subset equals the loss of those rows' renders against those
    frames' masks, computed here directly; the subset of every row equals no subset."""
    torch.set_num_threads(1)
    model, kps = load_model("procedural"), load_keypoint_set("badja20")
    size, n, dim = 64, 12, 8
    parent = random_parent(size, dim)
    rng = np.random.default_rng(0)
    masks = (rng.uniform(size=(n, size, size)) > 0.5).astype(np.float32)  # every frame its own target
    data = SequenceData(rng.normal(size=(n, dim)).astype(np.float32), None, masks, size)
    cfg = OnlineTrainConfig.from_dict({"temporal": False, "device": "cpu", "loss": {"mask_size": 32},
                                       "weights": {"silhouette": 1.0}}, "online")
    net = build_online_net(parent, cfg, data.features)
    scene, priors = Scene(model, kps, size, 32), Priors(model, None)
    starts, length, cpu = [0, 4], 8, torch.device("cpu")
    with torch.no_grad():
        _, every = window_losses(net, scene, priors, data, starts, length, cfg, True, cpu)
        _, all_rows = window_losses(net, scene, priors, data, starts, length, cfg, True, cpu, rows=torch.arange(16))
        rows = torch.tensor([2, 9, 15])  # window 0 frame 2, window 1 frames 1 and 7 = video frames 2, 5, 11
        _, part = window_losses(net, scene, priors, data, starts, length, cfg, True, cpu, rows=rows)
        frames = torch.tensor([2, 5, 11])
        render = scene(net(data.features[frames][None]).flatten()).silhouette
        expected = silhouette_loss(render, scene.resize_masks(data.masks[frames]), torch.ones(3), "l1", 0.6, 0.4)
    assert abs(all_rows["silhouette"] - every["silhouette"]) < 1e-6
    assert abs(part["silhouette"] - float(expected)) < 1e-5
    assert abs(part["silhouette"] - every["silhouette"]) > 1e-4
