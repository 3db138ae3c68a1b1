"""Gaussian pose prior fitted to generated gait poses, and the joint-limit table of the spec."""

from __future__ import annotations

import numpy as np

from smal4v.model.gait import DEFAULT_PARAMS, gait_pose
from smal4v.model.model_data import SMAL_JOINT_NAMES, PosePrior


def joint_limits(cfg: dict) -> np.ndarray:
    """Limits (35, 3, 2) in radians from the spec table (degrees; ``default`` for unlisted joints)."""
    table = cfg["limits"]
    unknown = set(table) - set(SMAL_JOINT_NAMES) - {"default"}
    if unknown:
        raise ValueError(f"procedural spec: pose_prior.limits names unknown joints {sorted(unknown)}")
    lim = np.array([table.get(name, table["default"]) for name in SMAL_JOINT_NAMES], dtype=np.float64)
    if lim.shape != (len(SMAL_JOINT_NAMES), 3, 2) or np.any(lim[..., 0] > lim[..., 1]):
        raise ValueError("procedural spec: pose_prior.limits must be [[min, max]] x 3 axes per joint, min <= max")
    return np.deg2rad(lim)


def sample_gait_poses(cfg: dict, limits: np.ndarray) -> np.ndarray:
    """Random gait poses (N, 35, 3): random gait, phase, amplitude scale, duty jitter, plus noise,
    clipped to the limits; root rotation zero."""
    rng = np.random.default_rng(int(cfg["seed"]))
    n = int(cfg["num_samples"])
    gaits = list(cfg["gaits"])
    poses = np.zeros((n, len(SMAL_JOINT_NAMES), 3))
    which = rng.integers(len(gaits), size=n)
    phase = rng.uniform(0.0, 1.0, size=n)
    scale = rng.uniform(*map(float, cfg["amplitude_range"]), size=n)
    duty_jitter = rng.uniform(-0.05, 0.05, size=n)
    for i in range(n):
        gait = gaits[which[i]]
        params = {k: (v + duty_jitter[i] if k == "duty" else v * scale[i]) for k, v in DEFAULT_PARAMS[gait].items()}
        poses[i] = gait_pose(phase[i:i + 1], gait, params)[0]
    poses[:, 1:] += rng.normal(0.0, np.deg2rad(float(cfg["noise_std"])), size=poses[:, 1:].shape)
    poses = np.clip(poses, limits[..., 0], limits[..., 1])
    poses[:, 0] = 0.0
    return poses


def fit_pose_prior(cfg: dict) -> PosePrior:
    """PosePrior: mean and lower-triangular L with L L^T = inv(cov + epsilon I) of gait poses."""
    limits = joint_limits(cfg)
    poses = sample_gait_poses(cfg, limits).reshape(-1, 3 * len(SMAL_JOINT_NAMES))
    cov = np.cov(poses, rowvar=False) + float(cfg["epsilon"]) * np.eye(poses.shape[1])
    precision = np.linalg.inv(cov)
    precision = 0.5 * (precision + precision.T)
    return PosePrior(mean=poses.mean(0), precision_chol=np.linalg.cholesky(precision), limits=limits)
