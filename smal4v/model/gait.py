"""Cyclic gait generator in SMAL's 35-joint layout: the procedural model's pose prior source.

``gait_pose(phase, gait, params)`` returns axis-angle poses (T, 35, 3) for a walk (four-beat
lateral sequence: LH, LF, RH, RF footfalls a quarter cycle apart) or a trot (diagonal pairs
LF+RH, then RF+LH). Legs swing about the lateral (y) axis; in the model frame (x forward,
y left, z up) a positive y rotation swings a downward bone backwards, so stance moves the
upper leg from -swing to +swing and the swing phase brings it forward again while the joints
below flex (elbow forward, carpus back, stifle back, hock forward). Spine/neck/head bob twice
per cycle and the tail sways about the vertical axis. Root rotation is always zero.
"""

from __future__ import annotations

import numpy as np

from smal4v.model.model_data import SMAL_JOINT_NAMES

GAITS = ("walk", "trot")

# Phase (fraction of a cycle) at which each leg's stance starts (its footfall).
FOOTFALL: dict[str, dict[str, float]] = {
    "walk": {"LB": 0.0, "LF": 0.25, "RB": 0.5, "RF": 0.75},
    "trot": {"LF": 0.0, "RB": 0.0, "RF": 0.5, "LB": 0.5},
}

DEFAULT_PARAMS: dict[str, dict[str, float]] = {
    "walk": {"duty": 0.65, "swing_front": 0.38, "swing_back": 0.34, "flex": 0.75,
             "spine_bob": 0.025, "head_bob": 0.05, "tail_sway": 0.18, "tail_lift": 0.0},
    "trot": {"duty": 0.5, "swing_front": 0.5, "swing_back": 0.45, "flex": 1.0,
             "spine_bob": 0.04, "head_bob": 0.07, "tail_sway": 0.12, "tail_lift": 0.1},
}
"""Amplitudes in radians; ``duty`` is the stance fraction of the cycle."""

_J = {name: i for i, name in enumerate(SMAL_JOINT_NAMES)}
# leg key -> (upper, middle, lower, foot) joint ids
LEG_JOINTS: dict[str, tuple[int, int, int, int]] = {
    "LF": (_J["LLeg1"], _J["LLeg2"], _J["LLeg3"], _J["LFoot"]),
    "RF": (_J["RLeg1"], _J["RLeg2"], _J["RLeg3"], _J["RFoot"]),
    "LB": (_J["LLegBack1"], _J["LLegBack2"], _J["LLegBack3"], _J["LFootBack"]),
    "RB": (_J["RLegBack1"], _J["RLegBack2"], _J["RLegBack3"], _J["RFootBack"]),
}
SPINE = [_J[n] for n in ("pelvis0", "spine", "spine0", "spine1", "spine2", "spine3")]
TAIL = [_J[f"Tail{k}"] for k in range(1, 8)]


def _leg_cycle(u: np.ndarray, duty: float) -> tuple[np.ndarray, np.ndarray]:
    """Protraction curve in [-1, 1] (-1 = fully forward) and swing flexion in [0, 1] at phase u."""
    u = np.mod(u, 1.0)
    stance = u < duty
    s = np.where(stance, u / duty, (u - duty) / (1.0 - duty))
    angle = np.where(stance, -np.cos(np.pi * s), np.cos(np.pi * s))
    flex = np.where(stance, 0.0, np.sin(np.pi * s))
    return angle, flex


def gait_pose(phase: np.ndarray, gait: str = "walk", params: dict | None = None) -> np.ndarray:
    """Axis-angle poses (T, 35, 3) of a cyclic ``gait`` at ``phase`` (cycles; period 1).

    ``params`` overrides entries of :data:`DEFAULT_PARAMS` for that gait (unknown keys raise).
    """
    if gait not in GAITS:
        raise ValueError(f"unknown gait {gait!r}; expected one of {GAITS}")
    p = dict(DEFAULT_PARAMS[gait])
    for key, value in (params or {}).items():
        if key not in p:
            raise ValueError(f"unknown gait parameter {key!r}; expected one of {sorted(p)}")
        p[key] = float(value)
    if not 0.05 < p["duty"] < 0.95:
        raise ValueError(f"gait duty must be in (0.05, 0.95), got {p['duty']}")
    phase = np.atleast_1d(np.asarray(phase, dtype=np.float64))
    pose = np.zeros((phase.shape[0], len(SMAL_JOINT_NAMES), 3))
    for leg, (upper, middle, lower, foot) in LEG_JOINTS.items():
        angle, flex = _leg_cycle(phase - FOOTFALL[gait][leg], p["duty"])
        front = leg.endswith("F")
        swing = p["swing_front"] if front else p["swing_back"]
        f = p["flex"] * flex
        pose[:, upper, 1] = swing * angle
        if front:  # elbow brings the forearm forward, carpus folds the paw back
            pose[:, middle, 1] = -0.45 * f
            pose[:, lower, 1] = 1.1 * f
            pose[:, foot, 1] = 0.3 * f - 0.15 * swing * angle
        else:  # stifle folds the shank back, hock brings the foot forward
            pose[:, middle, 1] = 0.6 * f
            pose[:, lower, 1] = -0.7 * f
            pose[:, foot, 1] = 0.3 * f - 0.15 * swing * angle
    bob = np.sin(4.0 * np.pi * phase)
    for k, j in enumerate(SPINE):
        pose[:, j, 1] = p["spine_bob"] * bob * (1.0 if k % 2 == 0 else -1.0)
        pose[:, j, 0] = 0.3 * p["spine_bob"] * np.sin(2.0 * np.pi * phase)
    pose[:, _J["Neck"], 1] = -p["head_bob"] * bob
    pose[:, _J["Head"], 1] = 0.6 * p["head_bob"] * bob
    for k, j in enumerate(TAIL):
        pose[:, j, 2] = p["tail_sway"] * np.sin(2.0 * np.pi * (phase - 0.07 * k)) / (1.0 + 0.15 * k)
        pose[:, j, 1] = -p["tail_lift"] / 7.0
    return pose
