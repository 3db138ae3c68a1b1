"""The 2D keypoint head (soft-argmax heatmaps) and the fit of a network's parameters to its detections."""

from pathlib import Path

import numpy as np
import pytest
import torch

from smal4v.nets.keypoint_head import DetectedKeypoints, soft_argmax
from smal4v.nets.params import SMALParams
from smal4v.nets.single_frame import build_single_frame_net
from smal4v.train.config import KeypointFitConfig, NetConfig
from smal4v.train.datasets import FrameDataset
from smal4v.train.keypoint_fit import fit_to_detections
from smal4v.train.scene import Priors, Scene
from smal4v.train.single_frame import detect_single_frame, load_single_frame_net, train_single_frame
from smal4v.train.stages import predict_variant

S = 64


def test_soft_argmax_of_a_peaked_heatmap_is_the_cell_centre() -> None:
    logits = torch.full((1, 2, 8, 8), -50.0)
    logits[0, 0, 2, 5] = 50.0  # row 2, column 5
    logits[0, 1, 7, 0] = 50.0
    xy = soft_argmax(logits, crop_size=64)  # cells of 8 px: centres at 4, 12, ...
    torch.testing.assert_close(xy[0], torch.tensor([[5 * 8 + 4.0, 2 * 8 + 4.0], [4.0, 7 * 8 + 4.0]]))
    # a flat heatmap reads out the crop centre
    torch.testing.assert_close(soft_argmax(torch.zeros(1, 1, 8, 8), 64)[0, 0], torch.tensor([32.0, 32.0]))


def _net(model, kps, **extra):
    cfg = NetConfig.from_dict({"image_size": S, "feature_dim": 32, "keypoint_head": True, "num_keypoints": len(kps.names),
                               **extra})
    return build_single_frame_net(cfg, model)


def test_a_keypoint_head_needs_the_number_of_keypoints(model) -> None:
    with pytest.raises(ValueError, match="num_keypoints"):
        build_single_frame_net(NetConfig.from_dict({"image_size": S, "keypoint_head": True}), model)


def test_heatmap_stride_must_be_4_or_8(model, kps) -> None:
    with pytest.raises(ValueError, match="keypoint_head_stride.*got 2"):
        _net(model, kps, keypoint_head_stride=2)


def test_a_silhouette_head_needs_the_keypoint_head(model) -> None:
    with pytest.raises(ValueError, match="silhouette_head.*keypoint_head: true"):
        build_single_frame_net(NetConfig.from_dict({"image_size": S, "silhouette_head": True}), model)


def _iou(prob: np.ndarray, mask: np.ndarray) -> float:
    hard = prob > 0.5
    return float((hard & mask).sum() / (hard | mask).sum())


@pytest.mark.parametrize("stride, silhouette", [(8, False), (4, True)])
def test_head_learns_fixed_keypoints_and_survives_a_checkpoint(model, kps, tmp_path: Path, stride: int,
                                                               silhouette: bool) -> None:
    """Trained on images whose keypoints sit at fixed places (and whose mask is a fixed ellipse),
    the head's detections move there (from the crop centre), its silhouette map learns the
    ellipse, and a reloaded checkpoint (which keeps the stride) detects the same."""
    rng = np.random.default_rng(0)
    n, k = 16, len(kps.names)
    target = np.stack([rng.uniform(10, 54, k), rng.uniform(10, 54, k), np.ones(k)], -1).astype(np.float32)
    images = rng.integers(0, 255, (n, S, S, 3)).astype(np.uint8)
    yy, xx = np.mgrid[:S, :S] + 0.5
    mask = ((xx - 36) / 20) ** 2 + ((yy - 28) / 12) ** 2 < 1
    data = FrameDataset(images, np.repeat(target[None], n, 0), np.repeat(mask[None], n, 0).astype(np.float32),
                        name="fixed keypoints")
    torch.manual_seed(0)  # the initial weights, whatever ran before in this process
    net = _net(model, kps, keypoint_head_stride=stride, silhouette_head=silhouette)
    cfg = {"epochs": 30, "batch_size": 8, "lr": 3e-3, "progress": False,
           "weights": {"keypoints": 0, "silhouette": 0, "pose_prior": 0, "shape_prior": 0, "detected_keypoints": 1,
                       "keypoint_visibility": 1, "detected_silhouette": 1}}
    before = detect_single_frame(net, images)[1]
    train_single_frame(net, model, None, data, cfg, tmp_path, keypoint_set=kps)
    after = detect_single_frame(net, images)[1]
    error = lambda d: float(np.abs(d.xy.numpy() - target[None, :, :2]).mean())  # noqa: E731
    assert error(after) < 0.3 * error(before)
    assert float(torch.sigmoid(before.visibility_logits).max()) < 0.7  # untrained: undecided
    assert float(torch.sigmoid(after.visibility_logits).min()) > 0.8  # every keypoint was visible
    assert (after.silhouette_logits is not None) == silhouette
    if silhouette:
        assert after.silhouette_logits.shape[-2:] == (S // stride, S // stride)
        assert max(_iou(p, mask) for p in before.silhouette(S).numpy()) < 0.5  # untrained
        assert min(_iou(p, mask) for p in after.silhouette(S).numpy()) > 0.85
    again = load_single_frame_net(tmp_path / "checkpoint.pt", model)
    torch.testing.assert_close(detect_single_frame(again, images)[1].xy, after.xy)


def test_fit_moves_the_projected_keypoints_onto_the_detections(model, kps) -> None:
    """Detections = the keypoints of a known pose, one paw detected 6 px off; the fit from a
    perturbed pose lands on the truth (error against an independent projection of the true
    parameters) and follows the displaced paw only when it is marked seen."""
    scene = Scene(model, kps, S)
    n, paw = 4, kps.names.index("front_right_paw")
    g = torch.Generator().manual_seed(0)
    pose = torch.zeros(n, 35, 3)
    pose[:, 0] = torch.tensor([1.2, 1.2, -1.2])  # a side view (the heads' default root rotation)
    pose[:, 7:25] = 0.3 * torch.randn(n, 18, 3, generator=g)
    truth = SMALParams(torch.zeros(n, 20), pose, torch.tensor([[0.0, 0.0, 3.5]]).repeat(n, 1), torch.full((n,), 2.0 * S))
    with torch.no_grad():
        true_xy = scene(truth, silhouette=False).keypoints
    displaced = true_xy.clone()
    displaced[:, paw, 0] += 6.0
    start = SMALParams(truth.betas, truth.pose + 0.25 * torch.randn(n, 35, 3, generator=g),
                       truth.trans + torch.tensor([0.1, -0.1, 0.3]), truth.focal)
    cfg = KeypointFitConfig.from_dict({"steps": 150, "lr": 0.02})

    def errors(paw_logit: float) -> tuple[float, float, float]:
        """Mean error of the start, of the fit (every keypoint), and of the fit's paw (pixels)."""
        logits = torch.full(true_xy.shape[:2], 10.0)
        logits[:, paw] = paw_logit
        fitted = fit_to_detections(start, DetectedKeypoints(displaced, logits), scene, Priors(model, None), cfg)
        with torch.no_grad():
            err = lambda p: (scene(p, silhouette=False).keypoints - true_xy).norm(dim=-1)  # noqa: E731
            return float(err(start).mean()), float(err(fitted).mean()), float(err(fitted)[:, paw].mean())

    start_error, fit_error, paw_error = errors(-10.0)  # the displaced paw unseen
    assert fit_error < 0.1 * start_error and fit_error < 0.5  # pixels of a 64 px crop; the start is ~10 px off
    assert paw_error < 1.5
    assert errors(10.0)[2] > 3.0  # seen, it pulls the paw towards its 6 px offset
    unchanged = fit_to_detections(start, DetectedKeypoints(displaced, torch.zeros(n, len(kps.names))), scene,
                                  Priors(model, None), KeypointFitConfig())
    assert unchanged.pose.equal(start.pose)  # 0 steps: the regressed parameters


def test_fit_without_a_keypoint_head_says_what_to_set(model, kps, tmp_path: Path) -> None:
    net = build_single_frame_net(NetConfig.from_dict({"image_size": S, "feature_dim": 32}), model)
    path = tmp_path / "net.pt"
    torch.save({"model": net.state_dict(), "net_config": net.config.to_dict()}, path)
    with pytest.raises(ValueError, match="no keypoint head.*keypoint_head: true"):
        predict_variant(str(path), str(tmp_path / "frames.h5"), "procedural", "badja20", "parent", "cpu",
                        str(tmp_path / "p.h5"), "test", {"steps": 10})


def test_fit_matches_the_outline_of_a_silhouette_map(model, kps) -> None:
    """Detections that see no keypoint but carry the true silhouette: the fit moves a shifted,
    perturbed start until its rendered outline covers the truth (IoU against an independent
    render of the true parameters)."""
    scene = Scene(model, kps, S)
    n = 3
    g = torch.Generator().manual_seed(1)
    pose = torch.zeros(n, 35, 3)
    pose[:, 0] = torch.tensor([1.2, 1.2, -1.2])
    truth = SMALParams(torch.zeros(n, 20), pose, torch.tensor([[0.0, 0.0, 2.5]]).repeat(n, 1), torch.full((n,), 2.0 * S))
    with torch.no_grad():
        true_mask = scene(truth).silhouette > 0.5
    logits = 8.0 * (2.0 * true_mask.float() - 1.0)  # confident, on a grid of the mask's size
    detected = DetectedKeypoints(torch.zeros(n, len(kps.names), 2), torch.full((n, len(kps.names)), -10.0), logits)
    start = SMALParams(truth.betas, truth.pose + 0.1 * torch.randn(n, 35, 3, generator=g),
                       truth.trans + torch.tensor([0.1, -0.06, 0.3]), truth.focal)

    def iou(params: SMALParams) -> np.ndarray:
        with torch.no_grad():
            rendered = scene(params).silhouette.numpy()
        return np.array([_iou(r, m) for r, m in zip(rendered, true_mask.numpy())])

    fitted = fit_to_detections(start, detected, scene, Priors(model, None),
                               KeypointFitConfig.from_dict({"steps": 100, "lr": 0.02}))
    assert float(iou(start).max()) < 0.4  # measured: 0.27, 0.36, 0.13
    assert float(iou(fitted).min()) > 0.65 and float((iou(fitted) - iou(start)).min()) > 0.35  # 0.73, 0.92, 0.72


def test_outline_steps_render_only_the_last_steps(model, kps) -> None:
    """``outline_steps: N`` renders (and matches) the silhouette in the last N of the steps only;
    0 renders in every step; without a silhouette map nothing is rendered."""
    rendered: list[bool] = []

    class CountingScene(Scene):
        def __call__(self, params: SMALParams, silhouette: bool = True, **kw):  # type: ignore[override]
            rendered.append(silhouette)
            return super().__call__(params, silhouette=silhouette, **kw)

    counting = CountingScene(model, kps, S)

    n, k = 2, len(kps.names)
    pose = torch.zeros(n, 35, 3)
    pose[:, 0] = torch.tensor([1.2, 1.2, -1.2])
    start = SMALParams(torch.zeros(n, 20), pose, torch.tensor([[0.0, 0.0, 2.5]]).repeat(n, 1), torch.full((n,), 2.0 * S))
    xy = torch.full((n, k, 2), S / 2)
    for outline_steps, silhouette_map, expected in ((3, True, 3), (0, True, 10), (3, False, 0)):
        rendered.clear()
        detected = DetectedKeypoints(xy, torch.zeros(n, k), torch.zeros(n, 16, 16) if silhouette_map else None)
        cfg = KeypointFitConfig.from_dict({"steps": 10, "outline_steps": outline_steps})
        fit_to_detections(start, detected, counting, Priors(model, None), cfg)
        assert len(rendered) == 10 and sum(rendered) == expected
        assert not any(rendered[: 10 - expected])  # the outline steps are the last ones


@pytest.mark.parametrize("name", ["steps", "outline_steps"])
def test_fit_config_rejects_negative_step_counts(name) -> None:
    """A negative step count is a config error that names the key, not a silent no-fit."""
    with pytest.raises(ValueError, match=f"keypoint_fit.{name}: must be >= 0"):
        KeypointFitConfig.from_dict({name: -1})


def test_heatmap_loss_is_the_kl_to_a_gaussian_at_the_keypoint() -> None:
    """Against numpy: the KL from a normalised Gaussian (sigma 1.5 cells, centred on the keypoint's
    cell coordinate) to the softmax of random logits; keypoints outside the crop or unseen don't count;
    the map built as that Gaussian's log has no loss and reads out the keypoint."""
    from smal4v.train.losses import heatmap_loss

    rng = np.random.default_rng(1)
    size, cells, sigma = 64, 16, 1.5
    logits = rng.normal(size=(2, 3, cells, cells))
    target = np.array([[[10.0, 20.0, 1.0], [70.0, 5.0, 1.0], [30.0, 30.0, 0.0]],
                       [[50.0, 8.0, 1.0], [33.0, 41.0, 1.0], [-3.0, 10.0, 1.0]]])

    def gaussian(x: float, y: float) -> np.ndarray:
        c = (np.arange(cells) + 0.5) * size / cells  # cell centres in px
        g = np.exp(-(((c[None, :] - x) ** 2 + (c[:, None] - y) ** 2) / (2 * (sigma * size / cells) ** 2)))
        return g / g.sum()

    expected = []
    for b, k in [(0, 0), (1, 0), (1, 1)]:  # visible and inside the crop
        t = gaussian(*target[b, k, :2])
        log_p = logits[b, k] - np.log(np.exp(logits[b, k]).sum())
        expected.append(float((t * (np.log(t) - log_p)).sum()))
    got = heatmap_loss(torch.from_numpy(logits), torch.from_numpy(target), size, sigma)
    assert float(got) == pytest.approx(np.mean(expected), rel=1e-6)
    peaked = torch.from_numpy(np.log(gaussian(20.0, 44.0)))[None, None]
    assert float(heatmap_loss(peaked, torch.tensor([[[20.0, 44.0, 1.0]]]).double(), size, sigma)) == pytest.approx(0, abs=1e-9)
    torch.testing.assert_close(soft_argmax(peaked, size)[0, 0], torch.tensor([20.0, 44.0]).double(), atol=0.05, rtol=0)


def test_heatmap_sigma_must_be_positive() -> None:
    from smal4v.train.config import SingleFrameTrainConfig

    with pytest.raises(ValueError, match="loss.heatmap_sigma.*got 0"):
        SingleFrameTrainConfig.from_dict({"loss": {"heatmap_sigma": 0}}, "base")
