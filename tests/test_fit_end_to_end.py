"""End-to-end fit: gradient descent on pose, betas and translation of the procedural model
recovers a target silhouette and keypoints rendered from known parameters (issue 2)."""

from __future__ import annotations

import torch

from smal4v.model import load_keypoint_set, load_model
from smal4v.render import Camera, SoftSilhouetteRenderer, rasterize_hard

IMAGE_SIZE = 128


def _iou(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a & b).sum()) / float((a | b).sum())


def test_fit_recovers_silhouette_and_keypoints() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = load_model("procedural")
    kps = load_keypoint_set("badja20")
    camera = Camera(torch.tensor([300.0]), IMAGE_SIZE)
    renderer = SoftSilhouetteRenderer(IMAGE_SIZE, sigma=0.5)
    faces = model.faces

    # Target: a family-mean shape seen from the side, legs mid-stride, at depth 3.
    betas_true = torch.zeros(1, model.num_betas)
    betas_true[0, :4] = torch.tensor([0.8, -0.5, 0.4, 0.3])
    pose_true = torch.zeros(1, model.num_joints, 3)
    pose_true[0, 0] = torch.tensor([torch.pi / 2, 0.0, 0.0])  # side view: model z-up -> camera -y (up)
    for joint, angle in (("LLeg1", 0.35), ("RLeg1", -0.3), ("LLegBack1", -0.3), ("RLegBack1", 0.3)):
        pose_true[0, model.joint_names.index(joint), 1] = angle
    trans_true = torch.tensor([[0.05, 0.05, 3.0]])
    with torch.no_grad():
        out = model(betas_true, pose_true, trans_true)
        target_mask = rasterize_hard(out.vertices, faces, camera)
        target_kp = camera.project(kps.select(out, model))

    # Start: perturbed pose, mean shape, offset translation.
    betas = torch.zeros(1, model.num_betas, requires_grad=True)
    pose = (pose_true + 0.12 * torch.randn_like(pose_true)).requires_grad_(True)
    trans = (trans_true + torch.tensor([[0.08, -0.06, 0.3]])).requires_grad_(True)
    opt = torch.optim.Adam([{"params": [pose], "lr": 0.02}, {"params": [betas], "lr": 0.05}, {"params": [trans], "lr": 0.01}])
    target = target_mask.float()
    for step in range(150):
        if step == 100:
            renderer.sigma = 0.15
        opt.zero_grad()
        out = model(betas, pose, trans)
        sil = renderer(out.vertices, faces, camera)
        kp = camera.project(kps.select(out, model))
        loss = (sil - target).abs().mean() * 10 + ((kp - target_kp) ** 2).sum(-1).mean() / IMAGE_SIZE**2 * 100
        loss.backward()
        opt.step()

    with torch.no_grad():
        out = model(betas, pose, trans)
        mask = rasterize_hard(out.vertices, faces, camera)
        kp_err = (camera.project(kps.select(out, model)) - target_kp).norm(dim=-1).mean()
    iou = _iou(mask[0], target_mask[0])
    print(f"fit: silhouette IoU {iou:.3f}, keypoint error {float(kp_err):.2f} px")
    assert iou >= 0.9, f"silhouette IoU {iou:.3f}"
    assert kp_err <= 3.0, f"keypoint error {kp_err:.2f} px"
