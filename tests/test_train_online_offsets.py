"""Online networks with a free-form per-video shape (``online.shape_offsets``): vertex offsets
learned with the network grow what the shape space lacks, and reach the predictions file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shape_helpers import back_bump, mean_iou, normal_heights
from smal4v.model import load_keypoint_set, load_model
from smal4v.nets.single_frame import build_single_frame_net
from smal4v.nets.temporal import build_online_net, predict_sequence
from smal4v.render import Camera, rasterize_hard
from smal4v.train.config import OnlineTrainConfig
from smal4v.train.online import SequenceData, train_online
from smal4v.train.scene import Scene

S = 64
N = 8


@pytest.fixture(scope="module")
def hump_sequence():
    """A parent, its features of N frames, and targets: the online net's own starting
    predictions rendered with a bump on the back (keypoints unchanged: the bump carries none)."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = load_model("procedural")
    kps = load_keypoint_set("badja20")
    parent = build_single_frame_net({"image_size": S, "feature_dim": 32}, model)
    images = np.random.default_rng(0).uniform(0, 1, (N, S, S, 3)).astype(np.float32)
    features = parent.encoder.encode_frames(images)
    cfg = OnlineTrainConfig.from_dict({"window": 4, "stride": 2})
    start = predict_sequence(build_online_net(parent, cfg, torch.as_tensor(features)), torch.as_tensor(features), 4, 2)
    bump = back_bump(model, 0.12)
    with torch.no_grad():
        out = model(start.betas, start.pose, start.trans, None, bump[None].expand(N, -1, -1))
        masks = rasterize_hard(out.vertices, model.faces, Camera(start.focal, S))
        keypoints = Scene(model, kps, S)(start, silhouette=False).keypoints
    keypoints = torch.cat([keypoints, torch.ones(N, len(kps), 1)], -1)
    data = SequenceData(features, keypoints.numpy(), masks.numpy(), S, name="hump")
    return model, kps, parent, data, masks, bump


def _train(hump_sequence, tmp_path, shape_offsets: bool):
    model, kps, parent, data, _, _ = hump_sequence
    cfg = {"temporal": True, "shape_offsets": shape_offsets, "epochs": 30, "warmup_epochs": 0, "window": 4, "stride": 2,
           "windows_per_batch": 1, "gru_hidden": 16, "lr": 1e-3, "lr_offsets": 0.004, "progress": False, "device": "cpu",
           "loss": {"mask_size": S, "silhouette_sigma": 0.1}}
    net, preds, history = train_online(parent, model, None, data, cfg, tmp_path, kps)
    with torch.no_grad():
        offsets = net.vertex_offsets()
        out = model(preds.betas, preds.pose, preds.trans, None, None if offsets is None else offsets[None].expand(N, -1, -1))
        sil = rasterize_hard(out.vertices, model.faces, Camera(preds.focal, S))
    return offsets, sil, history


def test_online_offsets_grow_a_hump_the_betas_cannot(hump_sequence, tmp_path) -> None:
    model, _, _, _, masks, bump = hump_sequence
    plain_offsets, plain_sil, _ = _train(hump_sequence, tmp_path / "plain", shape_offsets=False)
    offsets, sil, history = _train(hump_sequence, tmp_path / "offsets", shape_offsets=True)
    assert plain_offsets is None
    assert "offset_smoothness" in history[-1] and "offset_norm" in history[-1]
    iou_plain, iou_offsets = mean_iou(plain_sil, masks), mean_iou(sil, masks)
    assert iou_offsets > iou_plain + 0.02, (iou_plain, iou_offsets)
    assert float(np.corrcoef(normal_heights(model, offsets), normal_heights(model, bump))[0, 1]) > 0.5
    resumed, _, _ = _train(hump_sequence, tmp_path / "offsets", shape_offsets=True)  # from the final checkpoint
    torch.testing.assert_close(resumed, offsets, rtol=0, atol=0)


def test_offsets_need_the_body_model() -> None:
    model = load_model("procedural")
    parent = build_single_frame_net({"image_size": S, "feature_dim": 32}, model)
    cfg = OnlineTrainConfig.from_dict({"shape_offsets": True})
    with pytest.raises(ValueError, match="shape_offsets needs the body model"):
        build_online_net(parent, cfg, torch.zeros(4, 32))
