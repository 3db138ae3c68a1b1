"""Keypoint sets: resolution on a SMAL-named model, flip involution, errors naming the file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from smal4v.model import AnimalModel, load_keypoint_set
from smal4v.model.model_data import SMAL_JOINT_NAMES, ModelData

SURFACE = ["nose", "chin", "left_ear_tip", "right_ear_tip", "left_eye", "right_eye", "neck_top"]


@pytest.fixture(scope="module")
def model() -> AnimalModel:
    """Tiny model with SMAL names: each joint's regressor picks one vertex, so joints are known."""
    rng = np.random.default_rng(0)
    J, V = 35, 50
    parents = [-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 6, 11, 12, 13, 6, 15, 0, 17, 18, 19, 0, 21, 22, 23,
               0, 25, 26, 27, 28, 29, 30, 16, 16, 16]
    jreg = np.zeros((J, V))
    jreg[np.arange(J), np.arange(J)] = 1.0
    weights = np.zeros((V, J))
    weights[np.arange(V), np.arange(V) % J] = 1.0
    data = ModelData(
        v_template=rng.normal(size=(V, 3)), shapedirs=np.zeros((2, V, 3)), posedirs=np.zeros((34 * 9, V, 3)),
        J_regressor=jreg, weights=weights, parents=np.array(parents), faces=np.array([[0, 1, 2]]),
        joint_names=list(SMAL_JOINT_NAMES), surface_points={n: 40 + i for i, n in enumerate(SURFACE)}, source="kp-test",
    )
    return AnimalModel.from_data(data)


@pytest.mark.parametrize("name", ["badja20", "stanford_extra"])
def test_sets_resolve_and_flip_is_an_involution(model, name):
    ks = load_keypoint_set(name)
    assert len(ks) == 20 and len(ks.point_names) == 20
    flip = np.array(ks.flip)
    assert sorted(flip) == list(range(20))
    np.testing.assert_array_equal(flip[flip], np.arange(20))
    # flipping swaps model sides: L<->R joint names, left<->right surface points
    for i, j in enumerate(flip):
        a, b = ks.point_names[i], ks.point_names[j]
        if i == j:
            assert not a.startswith(("L", "R")) or a == "Neck"
        else:
            if a[0] in "LR" and a != "Neck":
                swapped = {"L": "R", "R": "L"}[a[0]] + a[1:]
            else:
                swapped = a.replace("left", "#").replace("right", "left").replace("#", "right")
            assert b == swapped, (a, b)
    idx = ks.indices(model)
    assert idx.dtype == torch.long and idx.shape == (20,)
    out = model(torch.zeros(2, 2), torch.zeros(2, 35, 3))
    kp = ks.select(out, model)
    assert kp.shape == (2, 20, 3)
    for k, point in enumerate(ks.point_names):
        torch.testing.assert_close(kp[:, k], out.points[:, model.point_names.index(point)])
    assert set(ks.parts) >= {"legs", "tail", "ears", "face"}
    assert len(ks.parts["legs"]) == 12


def test_badja20_slot_order_and_side_mapping():
    ks = load_keypoint_set("badja20")
    assert ks.source_indices == [8, 9, 10, 12, 13, 14, 15, 18, 19, 20, 22, 23, 24, 25, 28, 31, 32, 33, 35, 36]
    by_slot = dict(zip(ks.source_indices, ks.point_names))
    # BADJA slots 8-10 / 18-20 / 35 are the animal's right side (METHOD.md 6, SMALify mapping)
    assert [by_slot[s] for s in (14, 13, 12)] == ["LFoot", "LLeg3", "LLeg2"]
    assert [by_slot[s] for s in (10, 9, 8)] == ["RFoot", "RLeg3", "RLeg2"]
    assert [by_slot[s] for s in (24, 20)] == ["LFootBack", "RFootBack"]
    assert by_slot[36] == "left_ear_tip" and by_slot[35] == "right_ear_tip" and by_slot[33] == "nose"
    assert [by_slot[s] for s in (25, 28, 31)] == ["Tail1", "Tail4", "Tail7"]
    # neck and jaw are annotated on the surface, where the joints of the same slot are inside
    assert by_slot[15] == "neck_top" and by_slot[32] == "chin"


def test_stanford_extra_matches_method_table():
    ks = load_keypoint_set("stanford_extra")
    ids = [SMAL_JOINT_NAMES.index(p) if p in SMAL_JOINT_NAMES else p for p in ks.point_names]
    assert ids[:16] == [14, 13, 12, 24, 23, 22, 10, 9, 8, 20, 19, 18, 25, 31, 34, 33]
    assert ids[16:] == ["nose", "chin", "right_ear_tip", "left_ear_tip"]
    assert ks.parts["ears"] == [14, 15, 18, 19] and ks.parts["face"] == [16, 17]


def test_errors_name_file_and_point(tmp_path, model):
    path = tmp_path / "custom.yaml"
    path.write_text("name: custom\nkeypoints:\n  - {name: a, point: LFoot}\n  - {name: b, point: tail_tip}\n")
    ks = load_keypoint_set(path)
    with pytest.raises(KeyError, match=r"custom\.yaml.*'b'.*'tail_tip'"):
        ks.indices(model)
    path.write_text("keypoints:\n  - {name: a, point: LFoot}\nmirror_pairs: [[a, zz]]\n")
    with pytest.raises(KeyError, match=r"custom\.yaml.*'zz'"):
        load_keypoint_set(path)
    with pytest.raises(FileNotFoundError, match="no_such_set"):
        load_keypoint_set("no_such_set")
