"""Horizontal-flip augmentation: the mirrored parameters must pose the mirror image of the animal."""

import pytest
import torch

from smal4v.model import load_keypoint_set, load_model
from smal4v.model.procedural.mesh import mirror_partners
from smal4v.render import Camera
from smal4v.train.config import AugmentConfig
from smal4v.train.datasets import Batch
from smal4v.train.mirror import Mirror
from smal4v.train.single_frame import augment

SIZE = 128


@pytest.fixture(scope="module")
def setup() -> tuple:
    model = load_model("procedural")
    kps = load_keypoint_set("badja20")
    gen = torch.Generator().manual_seed(3)
    B = 4
    betas = torch.randn(B, 20, generator=gen) * 0.8
    pose = torch.randn(B, model.num_joints, 3, generator=gen) * 0.2
    pose[:, 0] = torch.tensor([[1.2, 0.9, -1.1], [0.3, -2.0, 0.4], [-1.5, 0.2, 0.7], [0.1, 0.1, 2.5]])
    trans = torch.tensor([[0.3, -0.1, 4.0], [-0.4, 0.2, 5.0], [0.0, 0.0, 3.5], [0.2, 0.3, 6.0]])
    return model, kps, betas, pose, trans


def test_mirrored_parameters_give_the_mirror_image(setup: tuple) -> None:
    model, kps, betas, pose, trans = setup
    mirror = Mirror(model, kps)
    out = model(betas, pose, trans)
    out_m = model(betas, mirror.pose(pose), mirror.trans(trans, betas))
    # independent check: the camera-frame mesh mirrored (x -> -x), each vertex onto its partner
    rest = model(torch.zeros(1, 20), torch.zeros(1, model.num_joints, 3)).vertices[0].numpy()
    partner = torch.as_tensor(mirror_partners(rest, 1e-4))
    expected = out.vertices * torch.tensor([-1.0, 1.0, 1.0])
    assert torch.allclose(out_m.vertices[:, partner], expected, atol=1e-4)
    # in the image the mirrored animal's keypoints are the flipped keypoints; not exactly, since
    # the model's joint regressor is not perfectly left/right symmetric (joints are regressed
    # from posed vertices), so within a pixel at this strong random pose
    cam = Camera(torch.full((len(betas),), 300.0), (SIZE, SIZE))
    kp = torch.cat([cam.project(kps.select(out, model)), torch.ones(len(betas), len(kps), 1)], -1)
    kp_m = cam.project(kps.select(out_m, model))
    err = (kp_m - mirror.keypoints(kp, SIZE)[..., :2]).norm(dim=-1)
    assert err.mean() < 0.3 and err.max() < 1.5


def test_flip_twice_is_identity(setup: tuple) -> None:
    model, kps, betas, pose, trans = setup
    mirror = Mirror(model, kps)
    back = mirror.pose(mirror.pose(pose))
    assert torch.allclose(model(betas, back, trans).vertices, model(betas, pose, trans).vertices, atol=1e-4)
    assert torch.allclose(mirror.trans(mirror.trans(trans, betas), betas), trans, atol=1e-6)


def test_augment_flips_only_the_drawn_samples(setup: tuple) -> None:
    model, kps, betas, pose, trans = setup
    B = len(betas)
    images = torch.rand(B, 3, SIZE, SIZE)
    keypoints = torch.rand(B, len(kps), 3) * SIZE
    keypoints[..., 2] = 1.0
    masks = (torch.rand(B, SIZE, SIZE) > 0.5).float()
    gt = {"betas": betas, "pose": pose, "trans": trans, "focal": torch.full((B,), 300.0)}
    batch = Batch(images, keypoints, masks, None, gt)
    gen = torch.Generator().manual_seed(0)
    which = torch.rand(B, generator=torch.Generator().manual_seed(0)) < 0.5  # the draw augment makes
    assert 0 < int(which.sum()) < B
    out = augment(batch, AugmentConfig(flip=0.5), gen, Mirror(model, kps))
    for i in range(B):
        if which[i]:
            assert torch.equal(out.images[i], images[i].flip(-1))
            assert torch.equal(out.masks[i], masks[i].flip(-1))
            assert torch.allclose(out.keypoints[i, kps.flip, 0], SIZE - keypoints[i, :, 0])
            assert not torch.allclose(out.gt["pose"][i], pose[i])
        else:
            assert torch.equal(out.images[i], images[i])
            assert torch.equal(out.gt["pose"][i], pose[i])
    with pytest.raises(ValueError, match="Mirror"):
        augment(batch, AugmentConfig(flip=0.5), gen, None)
