"""Procedural appearance for synthetic videos: body colours and a textured 3D environment.

Everything here is a pure function of a ``numpy.random.Generator`` so that a synthetic sequence
is reproducible from its seed. Two parts:

* :func:`body_colors` gives per-vertex RGB colours in [0, 1] for a quadruped mesh from its rest
  (unposed) vertices, so the pattern sticks to the skin while the animal moves: a family palette,
  fur-like fine noise, larger mottling, a lighter belly and a family pattern (spots, patches,
  stripes, socks, saddle).
* :class:`Environment` is a ground plane (z = 0, world z up) with a cluttered periodic texture
  plus a sky/horizon panorama with hills and blobs; :meth:`Environment.render` ray-casts it for
  any camera pose, so the background moves consistently with the camera.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# family -> (base colours, pattern choices with probabilities); colours are RGB in [0, 1].
_PALETTES: dict[str, tuple[list[tuple[float, float, float]], dict[str, float]]] = {
    "dog": (
        [(0.76, 0.60, 0.42), (0.45, 0.30, 0.18), (0.14, 0.12, 0.11), (0.92, 0.90, 0.85),
         (0.55, 0.53, 0.50), (0.85, 0.66, 0.36)],
        {"plain": 0.35, "spots": 0.2, "saddle": 0.25, "socks": 0.2},
    ),
    "cat": (
        [(0.90, 0.56, 0.26), (0.50, 0.50, 0.52), (0.12, 0.11, 0.11), (0.93, 0.92, 0.88),
         (0.85, 0.75, 0.58)],
        {"stripes": 0.5, "plain": 0.25, "patches": 0.25},
    ),
    "horse": (
        [(0.45, 0.25, 0.12), (0.62, 0.32, 0.15), (0.10, 0.09, 0.09), (0.62, 0.62, 0.62),
         (0.90, 0.88, 0.84)],
        {"plain": 0.4, "socks": 0.3, "spots": 0.15, "stripes": 0.15},
    ),
    "cow": (
        [(0.95, 0.93, 0.90), (0.50, 0.30, 0.17), (0.15, 0.13, 0.12)],
        {"patches": 0.7, "plain": 0.3},
    ),
    "camel": (
        [(0.78, 0.65, 0.45), (0.68, 0.52, 0.34), (0.85, 0.76, 0.58)],
        {"plain": 0.8, "saddle": 0.2},
    ),
}
_GENERIC = (
    [(0.7, 0.55, 0.4), (0.4, 0.3, 0.2), (0.2, 0.2, 0.2), (0.9, 0.88, 0.84), (0.6, 0.6, 0.6)],
    {"plain": 0.3, "spots": 0.2, "patches": 0.2, "stripes": 0.15, "socks": 0.15},
)
PATTERNS = ("plain", "spots", "patches", "stripes", "socks", "saddle")


def fourier_noise(points: np.ndarray, rng: np.random.Generator, freq: float, n_waves: int = 24) -> np.ndarray:
    """Smooth band-limited noise at ``points`` (N, D): a sum of random plane waves, in about [-1, 1].

    ``freq`` is the mean spatial frequency in radians per unit; the result is deterministic for
    a given generator state and continuous in the points.
    """
    d = points.shape[1]
    dirs = rng.normal(size=(n_waves, d))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    freqs = freq * rng.uniform(0.6, 1.4, size=n_waves)
    phases = rng.uniform(0, 2 * np.pi, size=n_waves)
    waves = np.sin(points @ (dirs * freqs[:, None]).T + phases)
    return waves.sum(1) * np.sqrt(2.0 / n_waves)


def _jitter_color(rng: np.random.Generator, rgb: tuple[float, float, float], amount: float = 0.08) -> np.ndarray:
    """A colour near ``rgb``: brightness and per-channel gain jitter, clipped to [0, 1]."""
    c = np.asarray(rgb) * rng.uniform(1 - amount, 1 + amount) * rng.uniform(1 - amount / 2, 1 + amount / 2, 3)
    return np.clip(c, 0.0, 1.0)


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = list(weights)
    p = np.array([weights[n] for n in names], dtype=float)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def body_colors(
    rest_vertices: np.ndarray,
    family: str,
    rng: np.random.Generator,
    pattern: str | None = None,
    fur_strength: float = 0.12,
) -> tuple[np.ndarray, str]:
    """Per-vertex colours (V, 3) in [0, 1] for a quadruped and the pattern name used.

    ``rest_vertices`` are model-frame vertices in the rest pose (x forward, y left, z up);
    ``family`` selects the palette and pattern probabilities (unknown names use a generic one);
    ``pattern`` forces one of :data:`PATTERNS`.
    """
    colours, patterns = _PALETTES.get(family, _GENERIC)
    if pattern is None:
        pattern = _pick(rng, patterns)
    if pattern not in PATTERNS:
        raise ValueError(f"unknown body pattern {pattern!r}; choose one of {PATTERNS}")
    v = np.asarray(rest_vertices, dtype=np.float64)
    lo, hi = v.min(0), v.max(0)
    size = float(np.max(hi - lo))
    p = (v - (lo + hi) / 2) / size  # about [-0.5, 0.5] along the longest axis
    base = _jitter_color(rng, colours[int(rng.integers(len(colours)))])
    # a second colour from the palette that differs visibly from the base
    others = [c for c in colours if np.abs(np.asarray(c) - base).sum() > 0.4] or [tuple(1 - base)]
    second = _jitter_color(rng, others[int(rng.integers(len(others)))])
    col = np.tile(base, (len(v), 1))
    z_rel = (v[:, 2] - lo[2]) / max(hi[2] - lo[2], 1e-9)  # 0 at the feet, 1 at the top

    if pattern == "spots":
        centres = p[rng.choice(len(p), size=int(rng.integers(25, 60)), replace=False)]
        radius = rng.uniform(0.02, 0.04)
        d = np.linalg.norm(p[:, None, :] - centres[None], axis=2).min(1)
        w = np.clip((radius - d) / (0.25 * radius), 0, 1)
        col = col * (1 - w[:, None]) + second * w[:, None]
    elif pattern == "patches":
        warp = 0.06 * fourier_noise(p, rng, freq=12.0)
        w = (fourier_noise(p, rng, freq=rng.uniform(8, 14)) + warp > rng.uniform(-0.1, 0.5)).astype(float)
        col = col * (1 - w[:, None]) + second * w[:, None]
    elif pattern == "stripes":
        dark = base * rng.uniform(0.35, 0.55)
        phase = 2 * np.pi * rng.uniform(10, 16) * p[:, 0] + 1.5 * fourier_noise(p, rng, freq=10.0)
        w = np.clip((np.sin(phase) - 0.3) * 3, 0, 1) * (z_rel > 0.25)
        col = col * (1 - w[:, None]) + dark * w[:, None]
    elif pattern == "socks":
        h = rng.uniform(0.12, 0.25)
        w = np.clip((h - z_rel) / 0.03, 0, 1)
        col = col * (1 - w[:, None]) + np.array([0.93, 0.92, 0.88]) * w[:, None]
    elif pattern == "saddle":
        dark = base * rng.uniform(0.25, 0.45)
        w = np.clip((z_rel - rng.uniform(0.6, 0.75)) / 0.05, 0, 1) * (np.abs(p[:, 0]) < 0.25)
        col = col * (1 - w[:, None]) + dark * w[:, None]

    # lighter belly / underside (countershading), fur noise and mottling
    belly = np.clip((0.45 - z_rel) / 0.15, 0, 1) * np.clip((z_rel - 0.3) / 0.05, 0, 1)
    col = col * (1 - 0.35 * belly[:, None]) + 0.35 * belly[:, None] * np.minimum(col * 1.4 + 0.1, 1.0)
    mottle = 1 + 0.08 * fourier_noise(p, rng, freq=15.0)
    fur = 1 + fur_strength * fourier_noise(p, rng, freq=220.0, n_waves=48)
    col = col * (mottle * fur)[:, None]
    return np.clip(col, 0.0, 1.0), pattern


# ----------------------------------------------------------------------------- environment


def periodic_noise(shape: tuple[int, int], rng: np.random.Generator, beta: float = 2.0) -> np.ndarray:
    """Tileable 1/f^beta noise of ``shape`` normalised to [0, 1] (FFT filtering is periodic)."""
    white = rng.normal(size=shape)
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.fftfreq(shape[1])[None, :]
    f = np.sqrt(fx**2 + fy**2)
    f[0, 0] = 1.0
    spec = np.fft.fft2(white) / f ** (beta / 2)
    spec[0, 0] = 0
    n = np.real(np.fft.ifft2(spec))
    return (n - n.min()) / max(n.max() - n.min(), 1e-9)


def _random_color(rng: np.random.Generator, lo: float = 0.15, hi: float = 0.9) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.uniform(lo, hi, 3) * 255)


def _draw_random_shape(img: np.ndarray, rng: np.random.Generator, scale: float, wrap: bool) -> None:
    """Draw one filled circle/ellipse/rectangle/polygon; with ``wrap`` also at the 8 tile copies."""
    h, w = img.shape[:2]
    colour = _random_color(rng)
    kind = int(rng.integers(4))
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    r = scale * rng.uniform(0.3, 1.0)
    pts = None
    if kind == 3:
        n = int(rng.integers(3, 7))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        pts = np.stack([np.cos(ang), np.sin(ang)], 1) * r * rng.uniform(0.5, 1.0, (n, 1))
    axes = (int(r), int(r * rng.uniform(0.3, 1.0)))
    angle = float(rng.uniform(0, 180))
    offsets = [(dx, dy) for dx in (-w, 0, w) for dy in (-h, 0, h)] if wrap else [(0, 0)]
    for dx, dy in offsets:
        c = (int(cx + dx), int(cy + dy))
        if kind == 0:
            cv2.circle(img, c, int(r), colour, -1, cv2.LINE_AA)
        elif kind == 1:
            cv2.ellipse(img, c, axes, angle, 0, 360, colour, -1, cv2.LINE_AA)
        elif kind == 2:
            box = cv2.boxPoints(((c[0], c[1]), (2 * axes[0], 2 * axes[1]), angle)).astype(np.int32)
            cv2.fillPoly(img, [box], colour, cv2.LINE_AA)
        else:
            cv2.fillPoly(img, [(pts + c).astype(np.int32)], colour, cv2.LINE_AA)


@dataclass
class Environment:
    """A ground plane z = 0 with a tileable texture and a panorama for rays above the horizon.

    ``ground``/``ground_far``: (N, N, 3) uint8 tiles covering ``tile_size`` world units (the far
    one blurred, used with distance to avoid aliasing); ``panorama``: (Hp, Wp, 3) uint8 indexed by
    azimuth (columns, 360 degrees) and elevation (rows, from ``pano_max_elev`` at the top down to 0
    at the bottom); ``haze``: RGB of distant ground; ``fog_distance`` in world units.
    """

    ground: np.ndarray
    ground_far: np.ndarray
    tile_size: float
    panorama: np.ndarray
    pano_max_elev: float
    haze: np.ndarray
    fog_distance: float

    @classmethod
    def random(cls, rng: np.random.Generator, scale: float, clutter: int = 60, tile_px: int = 512) -> "Environment":
        """A random environment for an animal of body length ``scale`` (world units).

        ``clutter`` is the number of random shapes drawn on the ground tile (half as many on the
        panorama); 0 gives plain noise textures.
        """
        # ground: two-colour noise blend + random shapes, then fine grain
        g1, g2 = np.array(_random_color(rng, 0.2, 0.7)), np.array(_random_color(rng, 0.2, 0.7))
        n = periodic_noise((tile_px, tile_px), rng, beta=rng.uniform(1.5, 2.5))[..., None]
        ground = (g1 * n + g2 * (1 - n)).astype(np.uint8)
        for _ in range(clutter):
            _draw_random_shape(ground, rng, scale=tile_px * rng.uniform(0.01, 0.06), wrap=True)
        grain = periodic_noise((tile_px, tile_px), rng, beta=0.8)[..., None]
        ground = np.clip(ground * (0.75 + 0.5 * grain), 0, 255).astype(np.uint8)
        ground_far = cv2.GaussianBlur(ground, (0, 0), 3.0, borderType=cv2.BORDER_WRAP)
        haze = np.clip(ground.reshape(-1, 3).mean(0) * 0.6 + 0.4 * np.array([200, 205, 210]), 0, 255)

        # panorama: sky gradient + clouds, hills and blobs standing on the horizon
        hp, wp = 256, 1536
        top = np.array(_random_color(rng, 0.3, 0.8)) * np.array([0.6, 0.8, 1.0])
        rows = np.linspace(0, 1, hp)[:, None, None]
        pano = top * (1 - rows) + haze * rows
        clouds = periodic_noise((hp, wp), rng, beta=2.2)[..., None]
        pano = pano * (1 - 0.3 * clouds) + 0.3 * clouds * 240
        pano = pano.astype(np.uint8)
        x = np.arange(wp)
        for layer in range(int(rng.integers(1, 4))):
            prof = np.zeros(wp)
            for k in range(1, 6):
                prof += rng.uniform(0, 1) / k * np.sin(2 * np.pi * k * x / wp + rng.uniform(0, 2 * np.pi))
            height = (0.08 + 0.1 * rng.uniform() + 0.06 * prof) * hp / (layer + 1)
            colour = np.array(_random_color(rng, 0.15, 0.6))
            mask = (hp - 1 - np.arange(hp))[:, None] < height[None, :]
            pano[mask] = colour
        for _ in range(clutter // 2):
            _draw_random_shape(pano, rng, scale=hp * rng.uniform(0.03, 0.12), wrap=False)
        return cls(ground, ground_far, 8.0 * scale, pano, np.deg2rad(60.0), haze, 12.0 * scale)

    def render(self, R_cw: np.ndarray, cam_pos: np.ndarray, focal: float, size_hw: tuple[int, int],
               principal: tuple[float, float] | None = None) -> np.ndarray:
        """Ray-cast the environment into an (H, W, 3) uint8 image.

        ``R_cw`` (3, 3) maps world directions to the camera frame (x right, y down, z forward);
        ``cam_pos`` (3,) is the camera centre in the world (z up, ground at z = 0; below it, only
        the panorama is seen).
        """
        h, w = size_hw
        cx, cy = principal if principal is not None else (w / 2.0, h / 2.0)
        u = (np.arange(w) + 0.5 - cx) / focal
        v = (np.arange(h) + 0.5 - cy) / focal
        d_cam = np.stack(np.broadcast_arrays(u[None, :], v[:, None], np.ones((1, 1))), -1)
        d = d_cam @ R_cw  # world directions (rows of R_cw are the camera axes in world)
        d /= np.linalg.norm(d, axis=-1, keepdims=True)
        # sky / panorama
        az = np.arctan2(d[..., 1], d[..., 0])
        el = np.arcsin(np.clip(d[..., 2], -1, 1))
        hp, wp = self.panorama.shape[:2]
        px = ((az / (2 * np.pi)) % 1.0) * wp
        py = (1 - np.clip(el, 0, self.pano_max_elev) / self.pano_max_elev) * (hp - 1)
        sky = cv2.remap(self.panorama, px.astype(np.float32), py.astype(np.float32), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_WRAP).astype(np.float32)
        # ground plane, seen from above only (a camera below it, e.g. a random view of a low
        # animal, sees the panorama, not the plane behind it at negative distances)
        down = (d[..., 2] < -1e-4) & (cam_pos[2] > 0)
        t = np.where(down, -cam_pos[2] / np.where(down, d[..., 2], -1.0), 0.0)
        gx = (cam_pos[0] + t * d[..., 0]) / self.tile_size * self.ground.shape[1]
        gy = (cam_pos[1] + t * d[..., 1]) / self.tile_size * self.ground.shape[0]
        n = self.ground.shape[0]
        gx, gy = (gx % n).astype(np.float32), (gy % n).astype(np.float32)
        near = cv2.remap(self.ground, gx, gy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP).astype(np.float32)
        far = cv2.remap(self.ground_far, gx, gy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP).astype(np.float32)
        blur_w = np.clip(t / (0.4 * self.fog_distance), 0, 1)[..., None]
        fog_w = (1 - np.exp(-t / self.fog_distance))[..., None]
        ground = (near * (1 - blur_w) + far * blur_w) * (1 - fog_w) + self.haze * fog_w
        img = np.where(down[..., None], ground, sky)
        return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def darken_shadow(image: np.ndarray, shadow_px: np.ndarray, strength: float, blur_px: float) -> np.ndarray:
    """Darken ``image`` (H, W, 3) uint8 under splatted pixel positions ``shadow_px`` (N, 2) (x, y).

    The points are splatted, closed into a region and blurred, so a soft shadow results.
    """
    h, w = image.shape[:2]
    acc = np.zeros((h, w), np.float32)
    ij = np.round(shadow_px - 0.5).astype(int)
    ok = (ij[:, 0] >= 0) & (ij[:, 0] < w) & (ij[:, 1] >= 0) & (ij[:, 1] < h)
    acc[ij[ok, 1], ij[ok, 0]] = 1.0
    k = max(3, int(2 * round(blur_px) + 1))
    acc = cv2.dilate(acc, np.ones((k, k), np.uint8))
    acc = cv2.GaussianBlur(acc, (0, 0), max(blur_px, 0.5))
    out = image.astype(np.float32) * (1 - strength * np.clip(acc, 0, 1))[..., None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
