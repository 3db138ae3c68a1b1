"""Square crop windows that follow the animal, and the maps between crop and original pixels.

A crop window is ``[x0, y0, side]`` in original pixels; resized to ``S`` pixels, the continuous
crop coordinate ``c`` maps to original ``x0 + c * side / S`` (same for y). With the package's
pixel convention (pixel centres at +0.5) this one affine map covers points, images and cameras.

Camera: if a network predicts a pinhole camera for the crop with focal ``f_crop`` (crop pixels)
and principal point ``p_crop`` (default: crop centre ``S/2``), the same camera in the full frame
has ``f_full = f_crop * side / S`` and ``p_full = (x0, y0) + p_crop * side / S``, i.e.
``(x0 + side/2, y0 + side/2)`` for a centred principal point. Projections agree exactly.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d


def bbox_from_mask(mask: np.ndarray) -> np.ndarray:
    """Tight box ``[x, y, w, h]`` (pixel edges) of a boolean mask; NaNs when it is empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return np.full(4, np.nan, dtype=np.float32)
    return np.array(
        [cols[0], rows[0], cols[-1] + 1 - cols[0], rows[-1] + 1 - rows[0]], dtype=np.float32
    )


def bbox_from_keypoints(keypoints: np.ndarray, pad: float = 0.1, min_visible: int = 2) -> np.ndarray:
    """Box ``[x, y, w, h]`` around visible keypoints ``(K, 3)``, grown by ``pad`` of its size
    on each side (keypoints are joints, inside the body outline); NaNs if too few are visible."""
    vis = keypoints[:, 2] > 0
    if vis.sum() < min_visible:
        return np.full(4, np.nan, dtype=np.float32)
    xy = keypoints[vis, :2]
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    size = hi - lo
    lo = lo - pad * size
    size = size * (1 + 2 * pad)
    return np.array([lo[0], lo[1], size[0], size[1]], dtype=np.float32)


def interpolate_boxes(boxes: np.ndarray) -> np.ndarray:
    """Fill NaN rows of ``(N, 4)`` boxes by linear interpolation of centre and size over
    frame index, holding the nearest known box beyond the ends. Needs one known box."""
    boxes = np.asarray(boxes, dtype=np.float64)
    known = ~np.isnan(boxes).any(axis=1)
    if not known.any():
        raise ValueError("interpolate_boxes: no frame has a box")
    centre = boxes[:, :2] + boxes[:, 2:] / 2
    size = boxes[:, 2:]
    t = np.arange(len(boxes))
    cs = np.column_stack([centre, size])
    out = np.column_stack([np.interp(t, t[known], cs[known, i]) for i in range(4)])
    out[:, :2] -= out[:, 2:] / 2
    return out.astype(np.float32)


def crop_windows(
    boxes: np.ndarray,
    margin: float = 1.2,
    smooth_sigma: float = 2.0,
    min_side: float = 16.0,
) -> np.ndarray:
    """Square windows ``(N, 3)`` ``[x0, y0, side]``: side = margin * max(w, h), centred on the
    box; centre and side are Gaussian-smoothed over time (sigma in frames, 0 = off) so the crop
    does not jitter. ``boxes`` must be complete (see :func:`interpolate_boxes`)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    if np.isnan(boxes).any():
        raise ValueError("crop_windows: boxes contain NaN; interpolate them first")
    centre = boxes[:, :2] + boxes[:, 2:] / 2
    side = np.maximum(margin * boxes[:, 2:].max(axis=1), min_side)
    if smooth_sigma > 0 and len(boxes) > 1:
        centre = gaussian_filter1d(centre, smooth_sigma, axis=0, mode="nearest")
        side = gaussian_filter1d(side, smooth_sigma, mode="nearest")
    return np.column_stack([centre - side[:, None] / 2, side]).astype(np.float32)


def _window_origin_scale(window: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Origin ``(..., 2)`` and original-pixels-per-crop-pixel scale ``(..., 1)`` of crop windows
    ``[x0, y0, side]``, shaped to broadcast against ``points`` (per frame: (N, 3) vs (N, K, 2))."""
    window = np.asarray(window, dtype=np.float64)
    origin = window[..., :2]
    scale = window[..., 2]
    while origin.ndim < points.ndim:
        origin = origin[..., None, :]
        scale = scale[..., None]
    return origin, scale[..., None]


def crop_to_original(points: np.ndarray, window: np.ndarray, size: int) -> np.ndarray:
    """Map crop pixel coordinates ``(..., 2)`` to original pixels for window ``[x0, y0, side]``
    (``window`` broadcasts: (3,) or (N, 3) against points (N, K, 2))."""
    points = np.asarray(points, dtype=np.float64)
    origin, side = _window_origin_scale(window, points)
    return origin + points * side / size


def original_to_crop(points: np.ndarray, window: np.ndarray, size: int) -> np.ndarray:
    """Inverse of :func:`crop_to_original`: original pixels ``(..., 2)`` to crop pixels."""
    points = np.asarray(points, dtype=np.float64)
    origin, side = _window_origin_scale(window, points)
    return (points - origin) * size / side


def _warp_matrix(window: np.ndarray, size: int) -> np.ndarray:
    """Affine map from crop pixel *indices* to original pixel indices (cv2 index convention,
    where continuous coordinate = index + 0.5)."""
    x0, y0, side = (float(v) for v in window)
    s = side / size
    return np.array([[s, 0.0, x0 + 0.5 * s - 0.5], [0.0, s, y0 + 0.5 * s - 0.5]])


def crop_image(
    image: np.ndarray,
    window: np.ndarray,
    size: int,
    interpolation: str = "linear",
    border_value: float = 0,
    antialias: bool = True,
) -> np.ndarray:
    """Crop ``image`` (H, W[, C]) to the square ``window`` resized to ``size`` pixels.

    Outside the frame is filled with ``border_value`` (black). When shrinking, the image is
    Gaussian-blurred first (``antialias``) so fine texture does not alias.
    """
    flags = {"linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST, "cubic": cv2.INTER_CUBIC}
    if interpolation not in flags:
        raise ValueError(f"interpolation must be one of {sorted(flags)}, got {interpolation!r}")
    scale = float(window[2]) / size
    src = image
    if antialias and interpolation != "nearest" and scale > 1.5:
        sigma = 0.5 * np.sqrt(scale**2 - 1)
        src = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma)
    return cv2.warpAffine(
        src,
        _warp_matrix(window, size),
        (size, size),
        flags=flags[interpolation] | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=border_value,
    )


def crop_mask(mask: np.ndarray, window: np.ndarray, size: int) -> np.ndarray:
    """Crop a boolean mask (area-weighted via linear interpolation, thresholded at 0.5)."""
    soft = crop_image(mask.astype(np.float32), window, size, interpolation="linear")
    return soft >= 0.5


def uncrop_mask(mask_crop: np.ndarray, window: np.ndarray, frame_hw: tuple[int, int]) -> np.ndarray:
    """Paste a crop-space mask (S, S) back into a frame of size ``(H, W)`` (False outside)."""
    size = mask_crop.shape[0]
    m = np.vstack([_warp_matrix(window, size), [0, 0, 1]])
    inv = np.linalg.inv(m)[:2]
    soft = cv2.warpAffine(
        mask_crop.astype(np.float32), inv, (frame_hw[1], frame_hw[0]),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    )
    return soft >= 0.5


def full_camera_from_crop(
    focal_crop: np.ndarray, window: np.ndarray, size: int, principal_crop: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Full-frame ``(focal (N,), principal (N, 2))`` of a crop camera (see module docstring).

    ``principal_crop`` defaults to the crop centre ``(S/2, S/2)``.
    """
    window = np.atleast_2d(np.asarray(window, dtype=np.float64))
    focal_crop = np.asarray(focal_crop, dtype=np.float64)
    if principal_crop is None:
        principal_crop = np.full((len(window), 2), size / 2.0)
    focal = focal_crop * window[:, 2] / size
    principal = crop_to_original(np.asarray(principal_crop, dtype=np.float64), window, size)
    return focal, principal


def crop_camera_from_full(
    focal_full: np.ndarray, principal_full: np.ndarray, window: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`full_camera_from_crop`: crop ``(focal, principal)`` of a full camera."""
    window = np.atleast_2d(np.asarray(window, dtype=np.float64))
    focal = np.asarray(focal_full, dtype=np.float64) * size / window[:, 2]
    principal = original_to_crop(np.asarray(principal_full, dtype=np.float64), window, size)
    return focal, principal
