"""Real training on rendered images of the procedural quadruped (no mocks): the single-frame
network learns keypoints, resume is exact, 3D supervision and online training run end to end."""

from pathlib import Path

import numpy as np
import pytest
import torch

from smal4v.model import load_keypoint_set, load_model
from smal4v.nets.params import SMALParams
from smal4v.model.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from smal4v.nets.single_frame import build_single_frame_net
from smal4v.nets.temporal import OnlineSingleNet, TemporalNet
from smal4v.render.camera import Camera
from smal4v.render.shaded import ShadedRenderer
from smal4v.train.config import NetConfig
from smal4v.train import loop
from smal4v.train.datasets import FrameDataset
from smal4v.train.losses import keypoint_loss
from smal4v.train.online import SequenceData, train_online
from smal4v.train.scene import Scene
from smal4v.train.single_frame import load_single_frame_net, predict_single_frame, train_single_frame
from smal4v.train.stages import train_network

S = 64
NET = {"image_size": S, "shape_family": "dog", "feature_dim": 32}


@pytest.fixture(scope="module")
def setup():
    torch.set_num_threads(1)
    model = load_model("procedural")
    return model, load_keypoint_set("badja20")


def _render(model, kps, yaw: np.ndarray, legs: np.ndarray, shift: np.ndarray, root_offset: torch.Tensor, t0: torch.Tensor):
    """Shaded crops, keypoints (all visible), hard masks and GT params of posed dogs."""
    n = len(yaw)
    pose = torch.zeros(n, 35, 3)
    yaw_aa = torch.zeros(n, 3)
    yaw_aa[:, 1] = torch.as_tensor(yaw, dtype=torch.float32)  # about the camera's vertical axis
    pose[:, 0] = matrix_to_axis_angle(axis_angle_to_matrix(yaw_aa) @ root_offset)
    pose[:, 7:25, 1] = torch.as_tensor(legs, dtype=torch.float32)
    gt = SMALParams(torch.zeros(n, 20), pose, t0 + torch.as_tensor(shift, dtype=torch.float32), torch.full((n,), 2.0 * S))
    with torch.no_grad():
        out = Scene(model, kps, S, S)(gt, silhouette=False)
    kp = torch.cat([out.keypoints, torch.ones(n, len(kps), 1)], -1).numpy()
    r = ShadedRenderer(S)
    colors = np.full((model.num_vertices, 3), 0.7, np.float32)
    res = [r.render(out.vertices[i], model.faces, Camera(gt.focal[i], S), colors) for i in range(n)]
    return np.stack([x.image for x in res]), kp, np.stack([x.mask for x in res]), gt


def _dataset(model, kps, net, n: int = 8, seed: int = 0) -> tuple[FrameDataset, SMALParams]:
    rng = np.random.default_rng(seed)
    images, kp, masks, gt = _render(
        model, kps, rng.uniform(-0.8, 0.8, n), rng.normal(0, 0.3, (n, 18)),
        rng.uniform(-0.15, 0.15, (n, 3)) * [1, 1, 4], net.heads.root_offset, net.heads.trans_default,
    )
    return FrameDataset(images, kp, masks, gt=gt.to_numpy(), name="synthetic"), gt


def _eval_kp_loss(net, model, kps, ds: FrameDataset) -> float:
    p = predict_single_frame(net, ds.images)
    with torch.no_grad():
        return keypoint_loss(Scene(model, kps, S)(p, silhouette=False).keypoints, torch.as_tensor(ds.keypoints), S).item()


def test_single_frame_learns_keypoints(setup, tmp_path: Path) -> None:
    model, kps = setup
    torch.manual_seed(0)
    net = build_single_frame_net(NET, model)
    ds, _ = _dataset(model, kps, net)
    before = _eval_kp_loss(net, model, kps, ds)
    cfg = {"epochs": 30, "lr": 1e-3, "progress": False, "device": "cpu",
           "weights": {"keypoints": 1.0, "silhouette": 0.0, "pose_prior": 0.0, "shape_prior": 0.0}}
    hist = train_single_frame(net, model, None, ds, cfg, tmp_path, keypoint_set=kps)
    after = _eval_kp_loss(net, model, kps, ds)
    assert after < 0.5 * before, (before, after)
    assert hist[-1]["keypoints"] < hist[0]["keypoints"]
    # the checkpoint rebuilds the same network
    again = load_single_frame_net(tmp_path / "checkpoint.pt", model)
    a, b = predict_single_frame(net, ds.images[:2]), predict_single_frame(again, ds.images[:2])
    assert torch.allclose(a.pose, b.pose) and torch.allclose(a.trans, b.trans)


def test_single_frame_resume_is_exact_with_all_terms(setup, tmp_path: Path, monkeypatch) -> None:
    """3D supervision + silhouettes + priors + augmentation: 4 epochs == stopped after 2, then resumed."""
    model, kps = setup
    torch.manual_seed(1)
    ref_net = build_single_frame_net(NET, model)
    ds, _ = _dataset(model, kps, ref_net, n=6, seed=1)
    cfg = {"batch_size": 3, "lr": 1e-3, "progress": False, "device": "cpu",
           "augment": {"color_gain": 0.2, "scale_jitter": 0.1}, "loss": {"mask_size": 32, "silhouette_loss": "tversky"},
           "weights": {"keypoints": 1.0, "silhouette": 1.0, "betas": 1.0, "pose": 1.0, "trans": 1.0, "focal": 1.0,
                       "vertices": 1.0, "joint_limits": 1.0}}
    init = {k: v.clone() for k, v in ref_net.state_dict().items()}

    def run(epochs: int, out: Path):
        net = build_single_frame_net(NET, model)
        net.load_state_dict(init)
        return net, train_single_frame(net, model, None, ds, {**cfg, "epochs": epochs}, out, keypoint_set=kps)

    full, hist = run(4, tmp_path / "full")
    save = loop.save_checkpoint

    def save_then_stop(path, state):  # the job is killed right after its second checkpoint
        save(path, state)
        if state["epoch"] == 1:
            raise InterruptedError("killed")

    monkeypatch.setattr(loop, "save_checkpoint", save_then_stop)
    with pytest.raises(InterruptedError):
        run(4, tmp_path / "part")
    monkeypatch.undo()
    assert loop.load_checkpoint(tmp_path / "part" / loop.CHECKPOINT_NAME)["epoch"] == 1
    resumed, hist_r = run(4, tmp_path / "part")
    for (k, p), q in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(p, q), k
    assert hist == hist_r
    for term in ("silhouette", "pose", "vertices", "betas", "focal", "joint_limits", "pose_prior"):
        assert term in hist[0]
    assert hist[-1]["pose"] < hist[0]["pose"]


@pytest.mark.parametrize("temporal", [True, False])
def test_online_training_end_to_end(setup, tmp_path: Path, temporal: bool) -> None:
    model, kps = setup
    torch.manual_seed(2)
    parent = build_single_frame_net(NET, model)
    n = 10
    t = np.linspace(0, 1, n)
    images, kp, masks, _ = _render(
        model, kps, 0.6 * t - 0.3, np.outer(np.sin(6 * t), np.ones(18)) * 0.3, np.stack([0.1 * t, 0 * t, 0 * t], 1),
        parent.heads.root_offset, parent.heads.trans_default,
    )
    kp[np.arange(n) % 3 != 0, :, 2] = 0  # sparse annotations: every third frame
    feats = parent.encoder.encode_frames(images)
    data = SequenceData(feats, kp, masks, S, name="seq")
    cfg = {"temporal": temporal, "epochs": 10, "warmup_epochs": 3, "window": 4, "stride": 2, "windows_per_batch": 2,
           "gru_hidden": 16, "lr": 1e-3, "progress": False, "device": "cpu", "loss": {"mask_size": 32}}
    net, preds, hist = train_online(parent, model, None, data, cfg, tmp_path, kps)
    assert isinstance(net, TemporalNet if temporal else OnlineSingleNet)
    assert preds.pose.shape == (n, 35, 3) and preds.focal.shape == (n,)
    # one shape for the whole sequence
    assert torch.allclose(preds.betas, preds.betas[:1].expand(n, -1), atol=1e-6)
    assert "silhouette" not in hist[0] and "silhouette" in hist[-1]  # keypoint-only warm-up
    assert "temporal_keypoints" in hist[0]
    parent_pred = predict_single_frame(parent, images)
    sc = Scene(model, kps, S)
    with torch.no_grad():
        l_parent = keypoint_loss(sc(parent_pred, silhouette=False).keypoints, torch.as_tensor(kp), S)
        l_online = keypoint_loss(sc(preds, silhouette=False).keypoints, torch.as_tensor(kp), S)
    assert l_online < 0.95 * l_parent, (float(l_parent), float(l_online))
    assert (tmp_path / "checkpoint.pt").is_file() and (tmp_path / "losses.csv").is_file()


def test_train_network_twice_gives_identical_weights(setup, tmp_path):
    """The workflow's training stage seeds before it builds the network: two runs of one config
    give the same checkpoint (the fresh network's initial weights were once left unseeded)."""
    model, kps = setup
    dataset, _ = _dataset(model, kps, build_single_frame_net(NetConfig.from_dict(NET), model), n=4)
    cfg = {"epochs": 1, "batch_size": 4, "progress": False, "weights": {"keypoints": 10.0, "silhouette": 0.0}}
    states = []
    for run in ("a", "b"):
        out = tmp_path / run
        torch.manual_seed(len(states) + 1)  # whatever came before must not matter
        train_network(dataset, NET, cfg, "procedural", "badja20", 0, "cpu", f"{out}.pt", f"{out}.csv", f"{out}.png")
        states.append(load_single_frame_net(f"{out}.pt", model).state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
