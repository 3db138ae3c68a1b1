"""OSVOS densification: loss, network, augmentation, parent training/resume, fusion, scoring, CLI.

Sequences are generated here: a textured "animal" (an ellipse body with a head and four
swinging legs, one colour family) walking over a textured background of other colours.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from smal4v.data import artifacts
from smal4v.evaluate.metrics import iou_per_frame, silhouette_scores
from smal4v.segment import combine, osvos
from smal4v.segment.cli_densify import read_mask_folder
from smal4v.segment.densify import METHODS, densify_sequence, method_params
from smal4v.segment.flow import densify_nearest
from smal4v.segment.osvos_evaluate import evaluate_silhouettes
from smal4v.segment.osvos_net import OsvosNet, balanced_bce, prior_logit_shift
from segment_helpers import run_densify_cli, write_sequence_artifacts

H, W = 96, 128


def walking_animal(n: int = 25, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Frames (N,H,W,3) uint8 and true masks (N,H,W) of a walking textured animal."""
    rng = np.random.default_rng(seed)
    bg = cv2.GaussianBlur(rng.integers(0, 256, (H, W, 3)).astype(np.uint8), (0, 0), 2.0)
    bg = (bg * np.array([0.5, 0.8, 1.0])).astype(np.uint8)  # bluish-green field
    skin = np.clip(rng.normal(0, 25, (H, W, 3)) + (200, 140, 60), 0, 255).astype(np.uint8)  # brown fur
    frames, masks = [], []
    for t in range(n):
        m = np.zeros((H, W), np.uint8)
        cx, cy = 30 + 2.5 * t + 4 * seed % 10, 45 + 4 * np.sin(t / 3)
        cv2.ellipse(m, (int(cx), int(cy)), (20, 10), 0, 0, 360, 1, -1)
        cv2.circle(m, (int(cx + 22), int(cy - 8)), 7, 1, -1)
        for k, dx in enumerate((-14, -8, 8, 14)):
            swing = 6 * np.sin(t / 2 + k * np.pi / 2)
            cv2.line(m, (int(cx + dx), int(cy + 6)), (int(cx + dx + swing), int(cy + 24)), 1, 4)
        m = m.astype(bool)
        f = bg.copy()
        f[m] = np.roll(skin, int(2.5 * t), axis=1)[m]  # the fur texture moves with the animal
        frames.append(f)
        masks.append(m)
    return np.stack(frames), np.stack(masks)


FAST = {"iterations": 60, "batch_size": 4, "work_max_side": 128, "threads": 1, "progress": False}


@pytest.fixture(scope="module")
def parent(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny parent trained on three generated sequences (other seeds than the test's)."""
    seqs = [walking_animal(12, seed) for seed in (11, 12, 13)]
    path = tmp_path_factory.mktemp("osvos") / "parent.pt"
    osvos.train_parent(seqs, path, {"epochs": 2, "iterations_per_epoch": 15, "batch_size": 4,
                                    "work_max_side": 64, "threads": 1, "progress": False})
    return str(path)


def test_balanced_bce_matches_the_paper_formula():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 1, 5, 6))
    target = (rng.random((2, 1, 5, 6)) < 0.2).astype(np.float64)
    expected = []
    for z, y in zip(logits, target):
        p = 1 / (1 + np.exp(-z))
        beta = 1 - y.mean()  # fraction of background pixels weights the foreground term
        loss = -(beta * (y * np.log(p)).sum() + (1 - beta) * ((1 - y) * np.log(1 - p)).sum()) / y.size
        expected.append(2 * loss)
    got = balanced_bce(torch.tensor(logits), torch.tensor(target))
    assert float(got) == pytest.approx(np.mean(expected), rel=1e-9)
    # the shift the balanced loss adds to the logit is log(beta / (1 - beta))
    assert prior_logit_shift(0.2) == pytest.approx(np.log(0.8 / 0.2))


def test_network_shapes_and_backbone_file(tmp_path):
    net = OsvosNet("resnet_tiny", side_channels=4)
    fused, sides = net(torch.rand(2, 3, 50, 70))
    assert fused.shape == (2, 1, 50, 70) and len(sides) == 5 and all(s.shape == fused.shape for s in sides)
    from smal4v.nets.resnet import build_resnet

    imagenet = build_resnet("resnet_tiny")  # stands in for a user's torchvision file (has fc.*)
    path = tmp_path / "weights.pth"
    torch.save(imagenet.state_dict(), path)
    net.load_backbone(path)
    torch.testing.assert_close(net.encoder.layer3[0].conv1.weight, imagenet.layer3[0].conv1.weight)
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        net.load_backbone(tmp_path / "missing.pth")


def test_augmentation_moves_image_and_mask_together():
    rng = np.random.default_rng(1)
    frames, masks = walking_animal(1)
    p = osvos.AugmentParams(colour=0.0, scale=0.3, rotate=20, translate=0.2)
    img = np.where(masks[0][..., None], 255, 0).astype(np.uint8).repeat(3, axis=2)
    for _ in range(5):
        a_img, a_mask = osvos.augment(img, masks[0].astype(np.float32), p, rng)
        assert a_img.dtype == np.float32 and a_mask.shape == (H, W)
        assert np.abs(a_img[..., 0] - a_mask).max() <= 1 / 255  # uint8 interpolation rounding


def test_guided_filter_snaps_a_blurred_edge_to_the_image_edge():
    grey = np.zeros((40, 40), np.float32)
    grey[:, 20:] = 1.0
    truth = grey > 0.5
    blurry = cv2.GaussianBlur(np.roll(grey, 2, axis=1), (0, 0), 3.0)  # shifted, soft edge
    snapped = osvos.guided_filter(grey, blurry, radius=4, eps=1e-3)
    err_before = np.abs((blurry > 0.5) ^ truth).sum()
    assert np.abs((snapped > 0.5) ^ truth).sum() < err_before


def test_parent_training_resumes_to_identical_weights(tmp_path, monkeypatch):
    seqs = [walking_animal(4, 3)]
    cfg = {"epochs": 2, "iterations_per_epoch": 2, "batch_size": 2, "work_max_side": 32, "threads": 1,
           "progress": False, "side_channels": 4}
    osvos.train_parent(seqs, tmp_path / "a.pt", cfg)
    real, calls = osvos._train_steps, []

    def crash_in_second_epoch(*args, **kwargs):  # a killed job: epoch 1 done, epoch 2 dies
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(osvos, "_train_steps", crash_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        osvos.train_parent(seqs, tmp_path / "b.pt", cfg)
    assert not (tmp_path / "b.pt").exists()
    monkeypatch.setattr(osvos, "_train_steps", real)
    osvos.train_parent(seqs, tmp_path / "b.pt", cfg)  # resumes from b_train/checkpoint.pt
    a, _ = osvos.load_model(tmp_path / "a.pt")
    b, info = osvos.load_model(tmp_path / "b.pt")
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(va, vb, msg=k)
    assert info["n_images"] == 4
    with pytest.raises(ValueError, match="not an OSVOS parent"):
        osvos.load_model(tmp_path / "b_train" / "checkpoint.pt")


def test_osvos_and_fusion_on_a_walking_animal(parent):
    frames, gt = walking_animal(26, seed=0)
    given = np.zeros(len(frames), bool)
    given[::5] = True
    sparse = np.where(given[:, None, None], gt, False)
    params = {"osvos": {**FAST, "parent": parent}, "flow": {"progress": False}}
    fused, probs = combine.densify_osvos_flow(frames, sparse, given, params)
    only, _ = osvos.densify_osvos(frames, sparse, given, {"osvos": params["osvos"]})
    other = ~given
    j_fused = silhouette_scores(fused, gt, other)["J"]
    j_osvos = silhouette_scores(only, gt, other)["J"]
    j_near = silhouette_scores(densify_nearest(gt, given)[0], gt, other)["J"]
    assert j_fused >= 0.9, (j_fused, j_osvos, j_near)  # about 0.92 (flow alone 0.91)
    assert j_osvos >= 0.75, j_osvos  # OSVOS alone from 6 annotated frames, 60 steps: about 0.81
    assert j_fused > j_near + 0.1
    np.testing.assert_array_equal(fused[given], gt[given])
    assert (probs[given] == gt[given] * 255).all()


def test_fusion_weights_follow_distance_to_annotation():
    given = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 1], bool)
    p = combine.FusionParams(tau=2.0, w_max=0.8)
    w = combine.flow_weight(given, p)
    assert w[0] == 1 and w[9] == 1 and w[1] == pytest.approx(0.8) and w[2] == pytest.approx(0.8 * np.exp(-0.5))
    assert np.all(np.diff(w[:5]) < 0) and w[4] == pytest.approx(w[5])
    a, b = np.zeros((10, 2, 2), np.float32), np.ones((10, 2, 2), np.float32)
    np.testing.assert_allclose(combine.fuse(a, b, given, p)[:, 0, 0], w, rtol=1e-6)


def test_errors_are_clear(tmp_path):
    frames, gt = walking_animal(3)
    with pytest.raises(ValueError, match="at least one given mask"):
        osvos.densify_osvos(frames, gt, np.zeros(3, bool), {"osvos": FAST})
    with pytest.raises(ValueError, match="does not match frames"):
        osvos.densify_osvos(frames, gt[:, :10], np.ones(3, bool), {"osvos": FAST})
    with pytest.raises(ValueError, match=r"osvos: unknown keys \[.iters.\]"):
        osvos.densify_osvos(frames, gt, np.ones(3, bool), {"osvos": {"iters": 3}})
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        osvos.densify_osvos(frames, gt, np.ones(3, bool), {"osvos": {**FAST, "parent": str(tmp_path / "nope.pt")}})
    (tmp_path / "m").mkdir()
    cv2.imwrite(str(tmp_path / "m" / "000001.png"), np.zeros((10, 12), np.uint8))
    with pytest.raises(ValueError, match=r"000001.png is 12x10 but the frames are 128x96"):
        read_mask_folder(tmp_path / "m", ["000000", "000001"], (H, W))
    (tmp_path / "m" / "000001.png").unlink()
    with pytest.raises(ValueError, match="holds no PNG mask"):
        read_mask_folder(tmp_path / "m", ["000000"], (H, W))


def test_densify_stage_and_scoring_through_artifacts(tmp_path, parent):
    frames, gt = walking_animal(11, seed=2)
    given = np.zeros(11, bool)
    given[[0, 5, 10]] = True
    n, k = len(frames), 2
    write_sequence_artifacts(tmp_path, frames, gt, given)
    artifacts.write_artifact(tmp_path / "gt.h5", "ground_truth", {
        "masks": gt, "has_mask": np.ones(n, bool), "keypoints": np.zeros((n, k, 3))})
    assert {"flow", "osvos", "osvos+flow"} <= set(METHODS)
    cfg = {"method": "osvos+flow", "osvos": {**FAST, "parent": parent}, "flow": {"progress": False}}
    densify_sequence(tmp_path / "frames.h5", tmp_path / "annotations.h5", tmp_path / "sil.h5",
                     {"method": "osvos+flow", "osvos+flow": method_params(cfg, "osvos+flow")})
    table = evaluate_silhouettes("seq", tmp_path / "sil.h5", tmp_path / "annotations.h5", tmp_path / "gt.h5")
    pred = artifacts.read_artifact(tmp_path / "sil.h5", "silhouettes", ["masks"])["masks"]
    assert list(table["variant"]) == ["densify_osvos+flow"] * 2 and list(table["split"]) == ["heldout"] * 2
    j = table.set_index("metric")["value"]
    assert j["J"] == pytest.approx(iou_per_frame(pred[~given], gt[~given]).mean())
    assert table["n_frames"].tolist() == [8, 8]
    assert 0.8 < j["J"] <= 1 and 0.5 < j["F"] <= 1


def test_cli_writes_one_mask_per_frame(tmp_path, parent):
    frames, gt = walking_animal(6, seed=4)
    got = run_densify_cli(tmp_path, frames, gt, [0, 5], "jpg", ["--method", "osvos", "--parent", parent,
                                                                "--iterations", "20", "--threads", "1", "--no-progress"])
    np.testing.assert_array_equal(got[[0, 5]], gt[[0, 5]])
    assert iou_per_frame(got[1:5], gt[1:5]).mean() > 0.6
