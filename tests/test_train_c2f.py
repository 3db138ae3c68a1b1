"""Coarse-to-fine training (stage 2: the GCN alone on a frozen coarse network; the per-video
stage on another network's estimate) learns an off-model bump from keypoints and silhouettes;
its losses, checkpoints and fusion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shape_helpers import mean_iou
from smal4v.data.off_model import off_model_offsets
from smal4v.model import load_keypoint_set, load_model
from smal4v.model.mesh_hierarchy import hierarchy_for_model
from smal4v.nets.coarse_to_fine import CoarseToFineNet
from smal4v.nets.params import SMALParams
from smal4v.nets.single_frame import build_single_frame_net
from smal4v.render import Camera, rasterize_hard
from smal4v.train.c2f import canonical_offsets, fuse_offsets, load_c2f_net, predict_c2f, refine_predictions, train_c2f_stage
from smal4v.train.c2f_config import C2FConfig, trains_per_video
from smal4v.train.c2f_stages import c2f_estimate
from smal4v.train.config import KeypointFitConfig
from smal4v.train.c2f_losses import LaplacianLoss
from smal4v.train.datasets import FrameDataset
from smal4v.train.scene import Scene
from smal4v.train.single_frame import detect_single_frame, predict_single_frame

S = 64
N = 8


@pytest.fixture(scope="module")
def bump_set():
    """A coarse network, N random crops and targets: its own predictions with an off-model
    shape (hump, belly, thicker neck and legs, bigger ears: silhouettes and keypoints of that mesh)."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = load_model("procedural")
    kps = load_keypoint_set("badja20")
    coarse = build_single_frame_net({"image_size": S, "feature_dim": 32}, model)
    images = (np.random.default_rng(0).uniform(0, 1, (N, S, S, 3)) * 255).astype(np.uint8)
    start = predict_single_frame(coarse, images)
    bump = torch.as_tensor(off_model_offsets(model, start.betas[0].numpy(), np.random.default_rng(1), 2.0))
    with torch.no_grad():
        out = model(start.betas, start.pose, start.trans, None, bump[None].expand(N, -1, -1))
        masks = rasterize_hard(out.vertices, model.faces, Camera(start.focal, S))
        keypoints = Scene(model, kps, S)(start, silhouette=False, delta_v=bump[None].expand(N, -1, -1)).keypoints
    keypoints = torch.cat([keypoints, torch.ones(N, len(kps), 1)], -1)
    data = FrameDataset(images, keypoints.numpy(), masks.numpy(), name="bump")
    return model, kps, coarse, data, masks, bump, hierarchy_for_model(model)


def _stage2(bump_set, out_dir, epochs: int = 15):
    model, kps, coarse, data, _, _, hierarchy = bump_set
    cfg = C2FConfig.from_dict({
        "gcn": {"channels": 16, "head_channels": [16, 8]},
        "stage2": {"epochs": epochs, "batch_size": 4, "lr": 3e-3, "device": "cpu", "progress": False,
                   "loss": {"mask_size": S, "silhouette_sigma": 0.1},
                   "weights": {"keypoints_refined": 2.5e5, "silhouette_refined": 1.6e3, "laplacian": 1e3}},
    })
    torch.manual_seed(0)
    net = CoarseToFineNet(coarse, hierarchy, cfg.gcn)
    history = train_c2f_stage(net, model, data, cfg.stage2, out_dir, kps)
    return net, history


def test_stage2_learns_the_bump_with_the_coarse_net_frozen(bump_set, tmp_path) -> None:
    model, _, coarse, data, masks, bump, hierarchy = bump_set
    before = {k: v.clone() for k, v in coarse.state_dict().items()}
    net, history = _stage2(bump_set, tmp_path)
    for k, v in net.coarse.state_dict().items():  # frozen: weights and BatchNorm statistics
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    assert history[-1]["silhouette_refined"] < 0.85 * history[0]["silhouette_refined"], history
    assert history[-1]["keypoints_refined"] < history[0]["keypoints_refined"], history
    params, offsets = predict_c2f(net, model, data.images)
    corr = float(np.corrcoef(offsets.mean(0).flatten(), bump.flatten())[0, 1])
    assert corr > 0.5, corr
    with torch.no_grad():
        coarse_sil = rasterize_hard(model(params.betas, params.pose, params.trans).vertices, model.faces,
                                    Camera(params.focal, S))
        refined_sil = rasterize_hard(model(params.betas, params.pose, params.trans, None, offsets).vertices,
                                     model.faces, Camera(params.focal, S))
    assert mean_iou(refined_sil, masks) > mean_iou(coarse_sil, masks) + 0.01
    # the checkpoint rebuilds the same network; the GCN applied to the same estimate gives the same offsets
    loaded = load_c2f_net(tmp_path / "checkpoint.pt", model, hierarchy)
    again = refine_predictions(loaded, model, data.images, params)
    torch.testing.assert_close(again, offsets, rtol=1e-4, atol=1e-6)


def test_gcn_trained_on_another_networks_estimate_fits_its_video(bump_set, tmp_path) -> None:
    """``c2f.online``: the GCN learns offsets on top of a given estimate (its pose, camera and own
    offsets, not the coarse network's) from that estimate's frames: the fused offsets move the
    estimate's mesh toward the masks, and they follow the part of the bump it lacks."""
    model, kps, coarse, data, _, bump, hierarchy = bump_set
    start = predict_single_frame(coarse, data.images)
    turned = start.pose.clone()
    turned[:, 0, 1] += 0.6  # another pose than the coarse network's: a GCN fed that one cannot fit these masks
    estimate = SMALParams(start.betas, turned, start.trans, start.focal, None)
    base = 0.5 * bump
    with torch.no_grad():
        full = model(estimate.betas, estimate.pose, estimate.trans, None, bump[None].expand(N, -1, -1)).vertices
        masks = rasterize_hard(full, model.faces, Camera(estimate.focal, S))
    video = FrameDataset(data.images, None, masks.numpy(), name="video")
    cfg = C2FConfig.from_dict({"gcn": {"channels": 16, "head_channels": [16, 8]},
                               "online": {"epochs": 30, "batch_size": 4, "lr": 3e-3, "device": "cpu", "progress": False,
                                          "loss": {"mask_size": S}}})
    torch.manual_seed(0)
    net = CoarseToFineNet(coarse, hierarchy, cfg.gcn)
    history = train_c2f_stage(net, model, video, cfg.online, tmp_path, kps, (estimate, base))
    assert history[-1]["silhouette_refined"] < 0.9 * history[0]["silhouette_refined"], history
    fused = fuse_offsets(refine_predictions(net, model, data.images, estimate, base))
    assert float(np.corrcoef(fused.flatten(), (bump - base).flatten())[0, 1]) > 0.5  # 0.68 when written

    def iou(offsets: torch.Tensor) -> float:
        with torch.no_grad():
            mesh = model(estimate.betas, estimate.pose, estimate.trans, None, offsets[None].expand(N, -1, -1)).vertices
        return mean_iou(rasterize_hard(mesh, model.faces, Camera(estimate.focal, S)), masks)

    assert iou(base + fused) > iou(base) + 0.01  # 0.889 -> 0.907 when written


def test_stage3_with_frozen_batchnorm_trains_the_coarse_weights_but_keeps_its_statistics(bump_set, tmp_path) -> None:
    """``freeze_bn``: the coarse network's BatchNorm running statistics stay the parent's (a few
    small batches would replace them), while its weights and the GCN still learn."""
    model, kps, coarse, data, _, _, hierarchy = bump_set
    cfg = C2FConfig.from_dict({"gcn": {"channels": 8, "head_channels": [8, 8]},
                               "stage3": {"epochs": 1, "batch_size": 4, "lr": 1e-3, "device": "cpu", "progress": False,
                                          "freeze_bn": True, "loss": {"mask_size": 32}}})
    net = CoarseToFineNet(coarse, hierarchy, cfg.gcn)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    train_c2f_stage(net, model, data, cfg.stage3, tmp_path, kps)
    after = net.state_dict()
    stats = [k for k in before if k.startswith("coarse.") and k.endswith(("running_mean", "running_var"))]
    weights = [k for k in before if k.startswith("coarse.") and k.endswith("weight") and before[k].is_floating_point()]
    assert stats and all(torch.equal(before[k], after[k]) for k in stats)
    assert any(not torch.equal(before[k], after[k]) for k in weights)


def test_canonical_offsets_are_the_true_offsets_with_the_form_at_the_estimates_size(bump_set) -> None:
    """The target turns the estimate's rest mesh into the true one (betas + offsets) scaled to the
    estimate's RMS size on its centroid; nothing to correct gives zeros."""
    model, _, _, _, _, bump, _ = bump_set
    b = torch.randn(2, int(model.num_betas)) * 0.5
    d = bump[None].expand(2, -1, -1)
    torch.testing.assert_close(canonical_offsets(model, b, b, torch.zeros_like(d)), torch.zeros_like(d), rtol=0, atol=1e-5)
    other = b + 0.3
    zero = torch.zeros(2, int(model.num_joints), 3)
    with torch.no_grad():
        estimate = model(other, zero).vertices.double().numpy()
        truth = model(b, zero, None, None, d).vertices.double().numpy()
    refined = estimate + canonical_offsets(model, other, b, d).double().numpy()
    assert np.abs(refined - estimate).max() > 0.01
    for e, t, r in zip(estimate, truth, refined):  # independent: numpy, sizes as norms of the centred meshes
        t0, e0, r0 = t - t.mean(0), e - e.mean(0), r - r.mean(0)
        np.testing.assert_allclose(r.mean(0), e.mean(0), atol=1e-5)
        np.testing.assert_allclose(np.linalg.norm(r0), np.linalg.norm(e0), rtol=1e-4)
        np.testing.assert_allclose(r0 / np.linalg.norm(r0), t0 / np.linalg.norm(t0), atol=1e-5)


def test_stage2_learns_known_offsets_from_3d_truth(bump_set, tmp_path) -> None:
    """The ``offsets`` term alone (rows with 3D truth: the coarse estimate's own betas and the
    bump) teaches the GCN the bump at the estimate's size: loss down, offsets near the target."""
    model, kps, coarse, data, _, bump, hierarchy = bump_set
    start = predict_single_frame(coarse, data.images)
    truth = FrameDataset(data.images, data.keypoints, data.masks, name="bump with truth",
                         gt={"betas": start.betas.numpy(), "delta_v": bump[None].expand(N, -1, -1).numpy()})
    cfg = C2FConfig.from_dict({"gcn": {"channels": 16, "head_channels": [16, 8], "template_input": True},
                               "stage2": {"epochs": 60, "batch_size": 4, "lr": 1e-3, "device": "cpu", "progress": False,
                                          "weights": {"keypoints_refined": 0, "offsets": 100}}})
    torch.manual_seed(0)
    net = CoarseToFineNet(coarse, hierarchy, cfg.gcn)
    history = train_c2f_stage(net, model, truth, cfg.stage2, tmp_path, kps)
    assert history[-1]["offsets"] < 0.5 * history[0]["offsets"], history
    _, offsets = predict_c2f(net, model, data.images)
    target = canonical_offsets(model, start.betas, start.betas, bump[None].expand(N, -1, -1))
    assert float(np.corrcoef(offsets.flatten(), target.flatten())[0, 1]) > 0.8
    assert float((offsets - target).norm(dim=-1).mean()) < 0.5 * float(target.norm(dim=-1).mean())


def test_laplacian_loss_is_zero_for_identical_meshes_and_sees_a_bump() -> None:
    trimesh = pytest.importorskip("trimesh")
    sphere = trimesh.creation.icosphere(subdivisions=3)  # 642 vertices: a dense Laplacian stays small
    faces = torch.as_tensor(sphere.faces)
    v = torch.as_tensor(sphere.vertices, dtype=torch.float32)[None].repeat(2, 1, 1)
    loss = LaplacianLoss(faces, v.shape[1])
    assert float(loss(v, v)) == 0.0
    assert float(loss(v + 0.3, v)) == pytest.approx(0.0, abs=1e-5)  # a translation keeps Laplacian coordinates
    bump = torch.exp(-((v[0] - torch.tensor([0.0, 0.0, 1.0])) ** 2).sum(1) / 0.1)[:, None] * v[0]
    bumped = v + 0.2 * bump[None]
    # independent dense computation: L = D - A with A from the face edges
    A = torch.zeros(v.shape[1], v.shape[1])
    for a, b in ((0, 1), (1, 2), (2, 0)):
        A[faces[:, a], faces[:, b]] = 1.0
        A[faces[:, b], faces[:, a]] = 1.0
    L = torch.diag(A.sum(1)) - A
    torch.testing.assert_close(loss.coordinates(bumped)[0], L @ bumped[0], rtol=1e-4, atol=1e-5)
    expected = (L @ (bumped[0] - v[0])).norm(dim=-1).mean()
    assert float(expected) > 1e-3 and float(loss(bumped, v)) == pytest.approx(float(expected), rel=1e-4)


def test_fusion_median_ignores_outlier_frames() -> None:
    offsets = torch.zeros(5, 4, 3)
    offsets[:, :, 2] = 1.0
    offsets[0] = 50.0  # one frame with a wrong estimate
    torch.testing.assert_close(fuse_offsets(offsets, "median"), torch.ones(4, 3) * torch.tensor([0.0, 0.0, 1.0]))
    torch.testing.assert_close(fuse_offsets(offsets, "mean")[:, 2], torch.full((4,), 10.8))
    with pytest.raises(ValueError, match="unknown offset fusion"):
        fuse_offsets(offsets, "max")


def test_smooth_fusion_keeps_offsets_per_frame_and_spreads_each_in_time() -> None:
    """``smooth``: a correction seen in one frame spreads over its neighbours with Gaussian
    weights (sigma frames); constant offsets stay as they are; sigma 0 keeps every frame's own."""
    impulse = torch.zeros(31, 2, 3)
    impulse[15] = 1.0
    sigma = 2.0
    smoothed = fuse_offsets(impulse, "smooth", sigma)
    assert smoothed.shape == impulse.shape
    d = np.arange(-int(4 * sigma), int(4 * sigma) + 1)  # independent kernel: scipy truncates at 4 sigma
    kernel = np.exp(-(d ** 2) / (2 * sigma ** 2))
    expected = np.zeros(31)
    expected[15 + d] = kernel / kernel.sum()
    np.testing.assert_allclose(smoothed[:, 0, 0].numpy(), expected, atol=1e-6)
    constant = torch.ones(31, 2, 3) * torch.tensor([0.1, -0.2, 0.3])
    torch.testing.assert_close(fuse_offsets(constant, "smooth", 3.0), constant)
    assert fuse_offsets(impulse, "smooth", 0.0) is impulse


def test_c2f_settings_validate() -> None:
    cfg = C2FConfig.from_dict({"stage3": {"epochs": "3", "weights": {"laplacian": "5"}}})
    assert cfg.stage3.epochs == 3 and cfg.stage3.weights["laplacian"] == 5.0
    assert cfg.stage3.weights["silhouette"] == 1.6e4 and not cfg.stage3.freeze_coarse  # defaults kept
    assert cfg.stage2.freeze_coarse and cfg.stage2.weights["keypoints_refined"] > 0
    with pytest.raises(ValueError, match="unknown terms"):
        C2FConfig.from_dict({"stage2": {"weights": {"keypoint": 1}}})
    with pytest.raises(ValueError, match="fuse"):
        C2FConfig.from_dict({"fuse": "max"})
    with pytest.raises(ValueError, match="fuse_sigma"):
        C2FConfig.from_dict({"fuse": "smooth", "fuse_sigma": -1})
    assert C2FConfig().online.epochs == 0  # C2F has no per-video stage: off unless the config asks
    assert not trains_per_video({}) and trains_per_video({"online": {"epochs": "2"}})
    with pytest.raises(ValueError, match="online.weights: unknown terms"):
        C2FConfig.from_dict({"online": {"weights": {"silhouettes": 1}}})


def test_the_c2f_variant_refines_the_coarse_estimate_fitted_to_its_detections(bump_set) -> None:
    """``c2f_estimate`` (the workflow's ``c2f``): without keypoint_fit steps it is the c2f
    network's own forward pass; with them, its coarse estimate moves onto the keypoint head's
    detections as ``parent``'s does, and the GCN's offsets are computed on that fitted mesh."""
    model, kps, _, data, _, _, hierarchy = bump_set
    torch.manual_seed(0)
    coarse = build_single_frame_net({"image_size": S, "feature_dim": 32, "keypoint_head": True,
                                     "num_keypoints": len(kps.names)}, model)
    net = CoarseToFineNet(coarse, hierarchy, C2FConfig.from_dict({"gcn": {"channels": 8, "head_channels": [8, 8]}}).gcn)
    with torch.no_grad():  # the untrained GCN's last layer is zero: give it offsets to check
        for p in net.refiner.parameters():
            p.add_(0.05 * torch.randn_like(p))
    params, offsets = c2f_estimate(net, model, data.images, "badja20", KeypointFitConfig())
    own_params, own_offsets = predict_c2f(net, model, data.images)
    torch.testing.assert_close(params.pose, own_params.pose)
    torch.testing.assert_close(offsets, own_offsets, rtol=1e-4, atol=1e-6)
    assert float(offsets.abs().max()) > 1e-4

    fitted, fitted_offsets = c2f_estimate(net, model, data.images, "badja20", KeypointFitConfig(steps=20, lr=0.02))
    _, detected = detect_single_frame(coarse, data.images)
    scene = Scene(model, kps, S)

    def distance_to_detections(p: SMALParams) -> float:
        with torch.no_grad():
            return float((scene(p, silhouette=False).keypoints - detected.xy).norm(dim=-1).mean())

    assert distance_to_detections(fitted) < 0.7 * distance_to_detections(own_params)
    torch.testing.assert_close(fitted_offsets, refine_predictions(net, model, data.images, fitted), rtol=1e-4, atol=1e-6)
    assert not torch.allclose(fitted_offsets, own_offsets, atol=1e-5)  # the GCN saw the fitted mesh
