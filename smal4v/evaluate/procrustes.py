"""Similarity (Umeyama) alignment of point sets, used for Procrustes-aligned 3D errors."""

from __future__ import annotations

import numpy as np


def umeyama(src: np.ndarray, dst: np.ndarray, with_scale: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity ``dst ~ s * R @ src + t`` for (P, 3) point sets.

    Returns ``(s, R (3,3), t (3,))`` with det(R) = +1 (Umeyama 1991, reflection excluded).
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2:
        raise ValueError(f"umeyama: point sets must have equal (P, D) shapes, got {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    xs, xd = src - mu_s, dst - mu_d
    cov = xd.T @ xs / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(len(sig))
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1
    rot = u @ np.diag(d) @ vt
    var_s = (xs**2).sum() / len(src)
    scale = float((sig * d).sum() / var_s) if with_scale and var_s > 0 else 1.0
    trans = mu_d - scale * rot @ mu_s
    return scale, rot, trans


def procrustes_align(src: np.ndarray, dst: np.ndarray, with_scale: bool = True) -> np.ndarray:
    """``src`` (P, 3) moved by the best similarity transform onto ``dst``."""
    s, r, t = umeyama(src, dst, with_scale)
    return s * np.asarray(src, dtype=np.float64) @ r.T + t
