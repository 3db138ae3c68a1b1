"""Per-video mesh refinement: the offset field and its fit to silhouettes the shape space cannot explain."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shape_helpers import back_bump, mean_iou, normal_heights
from smal4v.model import load_keypoint_set, load_model
from smal4v.model.procedural.mesh import mirror_partners
from smal4v.nets.params import SMALParams
from smal4v.render import Camera, rasterize_hard
from smal4v.model.surface_offsets import SurfaceOffsets, rest_normals
from smal4v.train.refine import refine_sequence

SIZE = 64


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return load_model("procedural")


def _offsets(model: torch.nn.Module) -> SurfaceOffsets:
    rest = model.v_template.detach()
    return SurfaceOffsets(rest, model.faces, rest.numpy())


def test_rest_normals_point_outwards_on_an_octahedron() -> None:
    v = torch.tensor([[1.0, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]])
    f = torch.tensor([[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]])
    torch.testing.assert_close(rest_normals(v, f), v)


def test_offsets_are_symmetric_and_constant_fields_are_smooth(model: torch.nn.Module) -> None:
    offsets = _offsets(model)
    with torch.no_grad():
        offsets.scale.copy_(torch.randn(model.num_vertices, 1, generator=torch.Generator().manual_seed(0)))
    dv = offsets()
    partner = torch.as_tensor(mirror_partners(model.v_template.numpy(), 1e-4))
    # left/right partners move by mirror images of each other (y flips)
    torch.testing.assert_close(dv[partner] * torch.tensor([1.0, -1.0, 1.0]), dv, atol=1e-5, rtol=1e-4)
    assert float(offsets.smoothness().detach()) > 0.1
    with torch.no_grad():
        offsets.scale.fill_(0.02)
    assert float(offsets.smoothness().detach()) < 1e-10
    assert float(offsets.norm().detach()) == pytest.approx(0.02**2, rel=1e-5)


def test_refinement_grows_a_hump_the_shape_space_lacks(model: torch.nn.Module) -> None:
    """Targets rendered with a bump the coarse fit lacks: refinement raises the hard IoU and the
    recovered offsets point where the bump is (independent check: correlation with the truth)."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    n = 6
    pose = torch.zeros(n, model.num_joints, 3)
    pose[:, 0] = torch.tensor([torch.pi / 2, 0.0, 0.0])  # side view, back up
    pose[:, model.joint_names.index("LLeg1"), 1] = torch.linspace(-0.3, 0.3, n)
    coarse = SMALParams(torch.zeros(n, 20), pose, torch.tensor([[0.0, 0.05, 2.4]]).repeat(n, 1), torch.full((n,), 120.0))
    bump = back_bump(model, 0.12)
    camera = Camera(coarse.focal, SIZE)
    with torch.no_grad():
        target = rasterize_hard(model(coarse.betas, coarse.pose, coarse.trans, None, bump[None].expand(n, -1, -1)).vertices,
                                model.faces, camera)
        before = rasterize_hard(model(coarse.betas, coarse.pose, coarse.trans).vertices, model.faces, camera)
    cfg = {"epochs": 4, "steps_per_epoch": 15, "frames_per_step": 3, "lr_offsets": 0.004, "lr_corrections": 0.0005,
           "progress": False, "device": "cpu", "loss": {"mask_size": SIZE},
           "weights": {"keypoints": 0.0}}
    keypoints = torch.zeros(n, len(load_keypoint_set("badja20").names), 3)
    import tempfile

    with tempfile.TemporaryDirectory() as work:
        refined, delta_v, history = refine_sequence(model, load_keypoint_set("badja20"), coarse, target.float(), keypoints,
                                                    SIZE, cfg, work)
    assert history[-1]["silhouette"] < history[0]["silhouette"]
    with torch.no_grad():
        after = rasterize_hard(model(refined.betas, refined.pose, refined.trans, None, delta_v[None].expand(n, -1, -1)).vertices,
                               model.faces, camera)

    iou_before, iou_after = mean_iou(before, target), mean_iou(after, target)
    assert iou_after > iou_before + 0.02, (iou_before, iou_after)
    assert float(np.corrcoef(normal_heights(model, delta_v), normal_heights(model, bump))[0, 1]) > 0.5


def test_partial_nested_config_keeps_the_stage_defaults() -> None:
    from smal4v.train.config import RefineConfig

    cfg = RefineConfig.from_dict({"loss": {"mask_size": 96}})
    assert cfg.loss.mask_size == 96
    assert cfg.loss.silhouette_sigma == RefineConfig().loss.silhouette_sigma == 0.1


def test_refinement_starts_from_the_coarse_offsets(model: torch.nn.Module, tmp_path) -> None:
    """Offsets the online network already learned are the start of refinement: with zero steps
    the returned offsets are exactly the coarse ones, and the fit is scored with them."""
    n = 2
    coarse = SMALParams(torch.zeros(n, 20), torch.zeros(n, model.num_joints, 3), torch.tensor([[0.0, 0.0, 2.4]]).repeat(n, 1),
                        torch.full((n,), 120.0))
    bump = back_bump(model, 0.1)
    keypoints = torch.zeros(n, len(load_keypoint_set("badja20").names), 3)
    cfg = {"epochs": 1, "steps_per_epoch": 1, "lr_offsets": 0.0, "lr_corrections": 0.0, "progress": False,
           "device": "cpu", "loss": {"mask_size": 32}}
    masks = torch.zeros(n, SIZE, SIZE)
    _, delta_v, _ = refine_sequence(model, load_keypoint_set("badja20"), coarse, masks, keypoints, SIZE, cfg, tmp_path,
                                    coarse_offsets=bump)
    torch.testing.assert_close(delta_v, bump)


def test_refinement_follows_the_detections_where_no_keypoint_was_given(model: torch.nn.Module, tmp_path) -> None:
    """Detections at the true keypoints of every frame, none annotated: with weight ``head_detections``
    the refined keypoints end at under half the coarse estimate's distance from them (the coarse one
    is shifted sideways); without a weight they stay where they were; a weight without detections
    names the video."""
    from smal4v.train.scene import Scene

    torch.set_num_threads(1)
    kps = load_keypoint_set("badja20")
    n = 4
    pose = torch.zeros(n, model.num_joints, 3)
    pose[:, 0] = torch.tensor([torch.pi / 2, 0.0, 0.0])
    truth = SMALParams(torch.zeros(n, 20), pose, torch.tensor([[0.0, 0.05, 2.4]]).repeat(n, 1), torch.full((n,), 120.0))
    coarse = SMALParams(truth.betas, truth.pose, truth.trans + torch.tensor([0.08, 0.0, 0.0]), truth.focal)
    scene = Scene(model, kps, SIZE, 32, 0.5)
    with torch.no_grad():
        target_xy = scene(truth, silhouette=False).keypoints
        coarse_xy = scene(coarse, silhouette=False).keypoints
    detections = torch.cat((target_xy, torch.ones(n, len(kps.names), 1)), -1)
    no_keypoints = torch.zeros(n, len(kps.names), 3)
    masks = torch.zeros(n, SIZE, SIZE)
    cfg = {"epochs": 2, "steps_per_epoch": 20, "frames_per_step": 1, "lr_corrections": 0.005, "progress": False,
           "device": "cpu", "loss": {"mask_size": 32}, "weights": {"silhouette": 0.0}}

    def distance(weight: float, work: str) -> float:
        run = {**cfg, "weights": {**cfg["weights"], "head_detections": weight}}
        refined, _, _ = refine_sequence(model, kps, coarse, masks, no_keypoints, SIZE, run, tmp_path / work,
                                        detections=detections)
        with torch.no_grad():
            return float((scene(refined, silhouette=False).keypoints - target_xy).norm(dim=-1).mean())

    start = float((coarse_xy - target_xy).norm(dim=-1).mean())
    assert distance(30.0, "pulled") < 0.5 * start
    assert distance(0.0, "free") == pytest.approx(start, rel=0.1)
    with pytest.raises(ValueError, match="clip_3.*head_detections"):
        refine_sequence(model, kps, coarse, masks, no_keypoints, SIZE, {**cfg, "weights": {"head_detections": 1.0}},
                        tmp_path / "none", name="clip_3")
