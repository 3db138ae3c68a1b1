"""SMAL's 35 joints (plus a few helper landmarks) as functions of body proportions.

Vectorised over samples: every proportion is an array (N,), every point is returned as (N, 3).
Layout (model frame x forward, y left, z up; see resources/procedural/quadruped.yaml):
root (hips) at x = -body_length/2 and spine3 (shoulders) at +body_length/2 on the torso axis
(tilted so all paws share one ground plane), spine joints evenly spaced with a slight arch,
legs as three bones scaled by leg length, neck raised by neck_angle, then head, jaw hinge
(Mouth), ears, and a seven-joint drooping tail.
"""

from __future__ import annotations

import numpy as np

from smal4v.model.model_data import SMAL_JOINT_NAMES

SMAL_PARENTS = np.array([-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 6, 11, 12, 13, 6, 15, 0, 17, 18, 19, 0, 21, 22,
                         23, 0, 25, 26, 27, 28, 29, 30, 16, 16, 16], dtype=np.int64)
J = {name: i for i, name in enumerate(SMAL_JOINT_NAMES)}


def _vec(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Stack broadcast coordinates into (N, 3)."""
    x, y, z = np.broadcast_arrays(x, y, z)
    return np.stack([x, y, z], axis=-1).astype(np.float64)


def _dir(pitch_deg: np.ndarray) -> np.ndarray:
    """Unit vector(s) in the x-z plane at elevation ``pitch_deg`` (0 = forward)."""
    a = np.deg2rad(pitch_deg)
    return _vec(np.cos(a), 0.0 * a, np.sin(a))


def mirror(p: np.ndarray) -> np.ndarray:
    """Reflect points across the sagittal plane (y -> -y)."""
    return p * np.array([1.0, -1.0, 1.0])


def mirror_x(p: np.ndarray) -> np.ndarray:
    """Reflect directions front-to-back (x -> -x): tail directions point backwards."""
    return p * np.array([-1.0, 1.0, 1.0])


def build_skeleton(props: dict[str, np.ndarray], sk: dict) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Joints (N, 35, 3) and helper landmarks {name: (N, 3)} for proportions ``props`` (N,)."""
    L, D, W = props["body_length"], props["body_depth"], props["body_width"]
    Lf, Lb = props["leg_length_front"], props["leg_length_back"]
    hs = props["head_size"]
    n = np.shape(L)[0]
    joints = np.zeros((n, len(SMAL_JOINT_NAMES), 3))
    tilt = 0.5 * (Lf - Lb)  # shoulders higher when front legs are longer: paws on one ground
    z_hip, z_sh = -tilt, tilt
    # spine: root at the hips, spine3 at the shoulders, slight upward arch
    for k in range(7):
        t = k / 6.0
        joints[:, k] = _vec(-L / 2 + t * L, 0.0, z_hip + t * (z_sh - z_hip) + sk["spine_arch"] * D * np.sin(np.pi * t))
    marks: dict[str, np.ndarray] = {}
    marks["chest_front"] = joints[:, J["spine3"]] + _vec(sk["chest_length"] * L, 0.0, -0.05 * D)
    # legs: upper joint below the torso axis, three bones scaled by the leg length
    legs = (("LLeg1", "LLeg2", "LLeg3", "LFoot", J["spine3"], Lf, sk["leg_inset_front"], sk["front_leg_bones"]),
            ("LLegBack1", "LLegBack2", "LLegBack3", "LFootBack", J["root"], Lb, sk["leg_inset_back"], sk["back_leg_bones"]))
    for names, attach, length, inset, bones in ((l[:4], l[4], l[5], l[6], l[7]) for l in legs):
        top = joints[:, attach] * np.array([1.0, 0.0, 1.0]) + _vec(0.0, inset * W, -sk["shoulder_drop"] * D)
        pts = [top]
        for dx, dz in bones:
            pts.append(pts[-1] + _vec(dx * length, 0.0, dz * length))
        for name, p in zip(names, pts):
            joints[:, J[name]] = p
            joints[:, J["R" + name[1:]]] = mirror(p)
    # neck, head, jaw hinge, ears
    neck = joints[:, J["spine3"]] + _vec(sk["neck_base"][0] * L, 0.0, sk["neck_base"][1] * D)
    head = neck + props["neck_length"][:, None] * _dir(props["neck_angle"])
    joints[:, J["Neck"]], joints[:, J["Head"]] = neck, head
    snout_dir = _dir(np.full(n, float(sk["snout_pitch"])))
    down = _vec(-snout_dir[:, 2], 0.0, snout_dir[:, 0])  # snout "up" direction, perpendicular
    mo = sk["mouth_offset"]
    joints[:, J["Mouth"]] = head + hs[:, None] * (mo[0] * snout_dir + mo[1] * down)
    eo = sk["ear_offset"]
    ear = head + hs[:, None] * _vec(eo[0], eo[1], eo[2])
    joints[:, J["LEar"]], joints[:, J["REar"]] = ear, mirror(ear)
    ear_axis = np.asarray(sk["ear_direction"], dtype=np.float64)
    ear_axis = ear_axis / np.linalg.norm(ear_axis)
    marks["left_ear_tip"] = ear + props["ear_size"][:, None] * ear_axis
    marks["right_ear_tip"] = mirror(marks["left_ear_tip"])
    marks["snout_dir"] = snout_dir
    marks["snout_up"] = down
    marks["cranium_front"] = head + 0.25 * hs[:, None] * snout_dir
    marks["nose_tip"] = marks["cranium_front"] + props["snout_length"][:, None] * snout_dir
    marks["chin_tip"] = marks["cranium_front"] + 0.85 * props["snout_length"][:, None] * snout_dir \
        + (mo[1] - 0.05) * hs[:, None] * down
    ey = sk["eye_offset"]
    marks["left_eye"] = head + hs[:, None] * (ey[0] * snout_dir + _vec(0.0, ey[1], 0.0) + ey[2] * down)
    marks["right_eye"] = mirror(marks["left_eye"])
    # tail: seven joints along a drooping, curling line; the tip follows Tail7
    p = joints[:, J["root"]] * np.array([1.0, 0.0, 1.0]) + _vec(-sk["rump_length"] * L, 0.0, sk["tail_base_height"] * D)
    seg = props["tail_length"] / 7.0
    for k in range(7):
        joints[:, J[f"Tail{k + 1}"]] = p
        p = p + seg[:, None] * mirror_x(_dir(np.full(n, sk["tail_angle"] + k * sk["tail_curl"])))
    marks["tail_tip"] = p
    return joints, marks
