"""Synthetic demo videos of the body model with full ground truth.

A sequence is the body model (random family and shape) walking or trotting over a textured
ground plane, filmed by a smoothly moving perspective camera. Each sequence directory holds::

    video.mp4                         H.264 video (n_frames at fps)
    annotations/keypoints.json        project keypoint format, every ``keypoint_every``-th frame
    annotations/masks/<frame:06d>.png annotated masks, every ``mask_every``-th frame
    ground_truth.h5                   kind "ground_truth" (smal4v.data.artifacts): masks and
                                      keypoints of every frame, vertices, joints, betas, pose,
                                      trans, focal, family
    synthetic.json                    the sampled scene parameters (family, gait, seed, config) and
                                      the world-to-camera rotation / camera centre of every frame

Geometry: the world has z up and the ground at z = 0. The animal (model frame: x forward,
y left, z up) is placed with heading ``psi(t)`` (rotation about world z) at a position obtained
by integrating its gait speed along the heading, lifted so its lowest vertex touches the ground.
The camera looks at the animal from a smoothly varying azimuth / elevation / distance. The
ground-truth ``pose[:, 0]`` (root axis-angle) maps the model frame to the camera frame and
``trans`` is chosen so that ``model(betas, pose, trans).vertices`` are exactly the rendered
camera-frame vertices.

Keypoint visibility: a keypoint is visible when it projects inside the image and its depth is
at most the rendered depth at its pixel plus a tolerance; the tolerance is the keypoint's
distance to the nearest mesh vertex (joints lie inside limbs) times ``visibility_radius_scale``
plus ``visibility_eps`` body lengths.

Configuration (``cfg`` mapping; unknown keys are an error; defaults in :class:`SynthConfig`):

=========================  =================================  ==========================================
key                        default                            meaning
=========================  =================================  ==========================================
image_size                 [256, 256]                         [W, H] pixels
n_frames                   48                                 frames per sequence
fps                        25                                 frame rate (also sets the gait timing)
model                      "procedural"                       spec for smal4v.model.load_model
families                   [dog, cat, horse, cow, camel]      shape families to sample from (by name)
beta_scale                 1.0                                std multiplier of the family Gaussian
off_model                  0.0                                size of the per-animal off-model offsets (hump, belly,
                                                              neck/legs/ears; smal4v.data.off_model); 0 = none
keypoint_set               "badja20"                          keypoint set of the annotations
keypoint_every / _offset   5 / 0                              annotated keypoint frames: i % every == offset
mask_every / mask_offset   5 / 0                              annotated mask frames
gaits                      [walk, trot]                       gait types to sample from
walk_hz / trot_hz          [0.8, 1.3] / [1.5, 2.2]            gait cycle frequency range (cycles/s)
gait_amplitude             [0.8, 1.2]                         gait swing amplitude factor range
turn_rate_deg              25                                 max heading change rate (deg/s)
pose_jitter                0.12                               smooth head/neck/tail wiggle (rad)
views                      {side: .5, oblique: .4, front: .05, back: .05}   initial view probabilities
elevation_deg              [4, 28]                            camera elevation range
orbit_deg                  40                                 max azimuth drift over a sequence
fov_deg                    [25, 50]                           horizontal field of view range
fill                       [0.45, 0.75]                       body length / min(W, H) on screen
zoom                       0.12                               relative distance variation in time
pan                        0.06                               camera aim jitter (fraction of the image)
allow_exit                 false                              allow the animal to leave the frame partly
texture                    true                               patterned fur; false: plain family colour
background                 "clutter"                          clutter | plain (flat ground and sky colours)
clutter                    60                                 random shapes on the ground texture
ambient                    [0.35, 0.6]                        ambient light range
light_drift_deg            15                                 slow light direction drift over a sequence
shadow                     true                               soft ground shadow under the animal
visibility_radius_scale    1.5                                see "Keypoint visibility"
visibility_eps             0.01                               see "Keypoint visibility" (body lengths)
write_video                true                               write video.mp4
write_frames               false                              also write frames/<frame:06d>.png
=========================  =================================  ==========================================

:data:`GENERIC_TRAINING_CFG` holds overrides for the generic training set of the base network
(short clips of all families, every frame annotated, wider view range).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import cv2
import numpy as np
import torch
from scipy.spatial.transform import Rotation

from smal4v.data.annotations import AnnotationSet, write_annotation_dir
from smal4v.data.artifacts import write_artifact
from smal4v.data.off_model import off_model_offsets, with_offsets
from smal4v.data.textures import Environment, body_colors, darken_shadow
from smal4v.data.video import write_mp4
from smal4v.model import load_model
from smal4v.model.gait import DEFAULT_PARAMS, gait_pose
from smal4v.model.keypoints import load_keypoint_set
from smal4v.render import Camera, ShadedRenderer
from smal4v.settings import build_settings

# joints with a small smooth random wiggle on top of the gait (SMAL ids): neck, head, tail, ears
_WIGGLE_JOINTS = (15, 16, 25, 26, 27, 28, 29, 30, 31, 33, 34)
_FEET = (10, 14, 20, 24)
_GAITS = ("walk", "trot")

GENERIC_TRAINING_CFG: dict[str, Any] = {
    "n_frames": 8,
    "keypoint_every": 1,
    "mask_every": 1,
    "views": {"side": 0.35, "oblique": 0.4, "front": 0.125, "back": 0.125},
    "elevation_deg": [2, 40],
    "orbit_deg": 90,
    "fill": [0.4, 0.8],
}
"""Overrides of :class:`SynthConfig` for the base network's generic training set."""


@dataclass
class SynthConfig:
    """All knobs of the generator; see the module docstring table."""

    image_size: tuple[int, int] = (256, 256)
    n_frames: int = 48
    fps: float = 25.0
    model: str = "procedural"
    families: list[str] = field(default_factory=lambda: ["dog", "cat", "horse", "cow", "camel"])
    beta_scale: float = 1.0
    off_model: float = 0.0  # smal4v.data.off_model offsets x this; 0 = shape space only
    keypoint_set: str = "badja20"
    keypoint_every: int = 5
    keypoint_offset: int = 0
    mask_every: int = 5
    mask_offset: int = 0
    gaits: list[str] = field(default_factory=lambda: ["walk", "trot"])
    walk_hz: tuple[float, float] = (0.8, 1.3)
    trot_hz: tuple[float, float] = (1.5, 2.2)
    gait_amplitude: tuple[float, float] = (0.8, 1.2)
    turn_rate_deg: float = 25.0
    pose_jitter: float = 0.12
    views: dict[str, float] = field(default_factory=lambda: {"side": 0.5, "oblique": 0.4, "front": 0.05, "back": 0.05})
    elevation_deg: tuple[float, float] = (4.0, 28.0)
    orbit_deg: float = 40.0
    fov_deg: tuple[float, float] = (25.0, 50.0)
    fill: tuple[float, float] = (0.45, 0.75)
    zoom: float = 0.12
    pan: float = 0.06
    allow_exit: bool = False
    texture: bool = True
    background: str = "clutter"
    clutter: int = 60
    ambient: tuple[float, float] = (0.35, 0.6)
    light_drift_deg: float = 15.0
    shadow: bool = True
    visibility_radius_scale: float = 1.5
    visibility_eps: float = 0.01
    write_video: bool = True
    write_frames: bool = False

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any] | None, source: str = "synthetic config") -> "SynthConfig":
        """Build from a mapping (e.g. a YAML subtree), rejecting unknown keys and bad values."""
        out = build_settings(cls, dict(cfg or {}), source)
        out.validate(source)
        return out

    def validate(self, source: str = "synthetic config") -> None:
        """Raise ValueError naming the first bad value."""
        w, h = (int(s) for s in self.image_size)
        if w < 16 or h < 16:
            raise ValueError(f"{source}: image_size must be at least 16x16, got {self.image_size}")
        if self.n_frames < 1:
            raise ValueError(f"{source}: n_frames must be >= 1, got {self.n_frames}")
        for key in ("keypoint_every", "mask_every"):
            if getattr(self, key) < 1:
                raise ValueError(f"{source}: {key} must be >= 1, got {getattr(self, key)}")
        if not self.families:
            raise ValueError(f"{source}: families is empty")
        bad = [g for g in self.gaits if g not in _GAITS]
        if bad or not self.gaits:
            raise ValueError(f"{source}: gaits must be a non-empty subset of {list(_GAITS)}, got {self.gaits}")
        bad_views = [v for v in self.views if v not in ("side", "oblique", "front", "back")]
        if bad_views or sum(self.views.values()) <= 0:
            raise ValueError(f"{source}: views must weight side/oblique/front/back, got {self.views}")
        if self.background not in ("clutter", "plain"):
            raise ValueError(f"{source}: background must be 'clutter' or 'plain', got {self.background!r}")

    @property
    def size_hw(self) -> tuple[int, int]:
        return int(self.image_size[1]), int(self.image_size[0])


# ----------------------------------------------------------------------------- helpers


def smooth_curve(rng: np.random.Generator, t: np.ndarray, amplitude: float, max_cycles: float = 1.0,
                 n_waves: int = 3) -> np.ndarray:
    """A smooth random curve over normalised time ``t`` in [0, 1], zero mean, |c| <= amplitude."""
    c = np.zeros_like(t, dtype=np.float64)
    for _ in range(n_waves):
        c += rng.uniform(-1, 1) * np.sin(2 * np.pi * rng.uniform(0.2, max_cycles) * t + rng.uniform(0, 2 * np.pi))
    return amplitude * c / n_waves


def look_at(cam_pos: np.ndarray, target: np.ndarray) -> np.ndarray:
    """World-to-camera rotation (rows: camera x right, y down, z forward in world coordinates)."""
    f = target - cam_pos
    f = f / np.linalg.norm(f)
    r = np.cross(f, [0.0, 0.0, 1.0])
    r = r / np.linalg.norm(r)
    d = np.cross(f, r)
    return np.stack([r, d, f])


def _rot_z(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    o, i = np.zeros_like(angle), np.ones_like(angle)
    return np.stack([np.stack([c, -s, o], -1), np.stack([s, c, o], -1), np.stack([o, o, i], -1)], -2)


def _sample_betas(model: Any, family: str, rng: np.random.Generator, scale: float) -> np.ndarray:
    fams = {f.name: f for f in model.shape_families}
    if family not in fams:
        raise ValueError(f"model has no shape family {family!r}; it has {sorted(fams)}")
    fam = fams[family]
    cov = np.asarray(fam.cov, dtype=np.float64)
    # rank-deficient covariances: sample through an eigendecomposition (no Cholesky)
    evals, evecs = np.linalg.eigh((cov + cov.T) / 2)
    z = rng.normal(size=len(evals)) * np.sqrt(np.clip(evals, 0, None)) * scale
    return (np.asarray(fam.mean, dtype=np.float64) + evecs @ z).astype(np.float32)


def visible_keypoints(points_cam: np.ndarray, xy: np.ndarray, depth: np.ndarray, radius: np.ndarray,
                      size_hw: tuple[int, int]) -> np.ndarray:
    """Visibility (K,) bool of keypoints from a depth buffer; see the module docstring.

    ``points_cam`` (K, 3) camera frame, ``xy`` (K, 2) their pixels, ``depth`` (H, W) with inf
    where empty, ``radius`` (K,) depth tolerance.
    """
    h, w = size_hw
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h) & (points_cam[:, 2] > 0)
    col = np.clip(np.floor(xy[:, 0]).astype(int), 0, w - 1)
    row = np.clip(np.floor(xy[:, 1]).astype(int), 0, h - 1)
    surface = depth[row, col]
    return inside & (points_cam[:, 2] <= surface + radius)


@dataclass
class SequenceInfo:
    """What :func:`generate_sequence` produced."""

    path: Path
    seed: int
    family: str
    gait: str
    pattern: str
    n_frames: int
    seconds: float
    params: dict[str, Any]


# ----------------------------------------------------------------------------- generation


def _posed_model_frame(model: Any, betas: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """Model-frame vertices (T, V, 3) for poses (T, J, 3) with zero root and trans."""
    with torch.no_grad():
        b = torch.as_tensor(betas, dtype=torch.float32)[None].expand(len(pose), -1)
        out = model(b, torch.as_tensor(pose, dtype=torch.float32), torch.zeros(len(pose), 3))
    return out.vertices.numpy().astype(np.float64)


def _gait_poses(phase: np.ndarray, gait: str, amplitude: float, n_joints: int) -> np.ndarray:
    """Gait poses (T, J, 3) with the leg swings scaled by ``amplitude``."""
    base = DEFAULT_PARAMS[gait]
    params = {"swing_front": base["swing_front"] * amplitude, "swing_back": base["swing_back"] * amplitude}
    pose = np.asarray(gait_pose(phase, gait, params), dtype=np.float64)
    if pose.shape != (len(phase), n_joints, 3):
        raise ValueError(f"gait_pose returned shape {pose.shape}, expected {(len(phase), n_joints, 3)}")
    return pose


def _ground_speed(model: Any, betas: np.ndarray, gait: str, amplitude: float, hz: float, length: float) -> float:
    """Body speed at which the feet in ground contact do not slide (model units per second).

    Over one gait cycle (model frame), a foot is in contact while it is within 2% of the body
    height of its own lowest point; the median backward velocity of contacting feet is the speed.
    """
    n = 32
    pose = _gait_poses(np.linspace(0, 1, n, endpoint=False), gait, amplitude, int(model.num_joints))
    with torch.no_grad():
        joints = model(torch.as_tensor(betas)[None].expand(n, -1), torch.as_tensor(pose, dtype=torch.float32),
                       torch.zeros(n, 3)).joints.numpy().astype(np.float64)
    feet = joints[:, [f for f in _FEET if f < joints.shape[1]]]  # (n, F, 3)
    if feet.shape[1] == 0:
        return 0.5 * length * hz
    height = float(np.ptp(joints[..., 2]))
    vx = (np.roll(feet[..., 0], -1, axis=0) - np.roll(feet[..., 0], 1, axis=0)) * (n / 2.0) * hz  # dx/dt
    contact = feet[..., 2] < feet[..., 2].min(0, keepdims=True) + 0.02 * height
    return float(np.median(-vx[contact]))


@dataclass
class _Motion:
    """Animal motion in the world (z up, ground z = 0)."""

    gait: str
    hz: float
    amplitude: float
    speed: float
    pose: np.ndarray  # (T, J, 3) with zero root
    heading: np.ndarray  # (T,) rad about world z
    R_world: np.ndarray  # (T, 3, 3) model -> world rotation
    vertices: np.ndarray  # (T, V, 3) world


def _sample_motion(model: Any, betas: np.ndarray, c: SynthConfig, rng: np.random.Generator) -> _Motion:
    """Gait cycle + head/tail wiggle, forward motion at the no-slip speed along a smooth heading."""
    T, J = int(c.n_frames), int(model.num_joints)
    gait = str(c.gaits[int(rng.integers(len(c.gaits)))])
    hz = float(rng.uniform(*(c.walk_hz if gait == "walk" else c.trot_hz)))
    amplitude = float(rng.uniform(*c.gait_amplitude))
    times = np.arange(T) / c.fps
    tn = times / max(times[-1], 1e-9)
    pose = _gait_poses((rng.uniform() + hz * times) % 1.0, gait, amplitude, J)
    for j in _WIGGLE_JOINTS:
        if j < J:
            for a in range(3):
                pose[:, j, a] += smooth_curve(rng, tn, c.pose_jitter, max_cycles=1.5)
    pose[:, 0] = 0.0
    verts_model = _posed_model_frame(model, betas, pose)  # (T, V, 3) model frame
    length = float(np.ptp(verts_model[0, :, 0]))
    speed = _ground_speed(model, betas, gait, amplitude, hz, length)
    turn = np.deg2rad(c.turn_rate_deg) * smooth_curve(rng, tn, 1.0, max_cycles=1.0)
    heading = float(rng.uniform(0, 2 * np.pi)) + np.cumsum(turn) / c.fps
    step = speed / c.fps * np.stack([np.cos(heading), np.sin(heading)], 1)
    pos_xy = np.cumsum(step, 0) - step[0]
    R_world = _rot_z(heading)
    world = np.einsum("tij,tvj->tvi", R_world, verts_model)
    world[..., :2] += pos_xy[:, None]
    world[..., 2] -= verts_model[..., 2].min(1)[:, None]  # lowest vertex on the ground every frame
    return _Motion(gait, hz, amplitude, speed, pose, heading, R_world, world)


@dataclass
class _CameraPath:
    """Per-frame world-to-camera rotations ``R_cw`` (T, 3, 3), centres ``position`` (T, 3)."""

    R_cw: np.ndarray
    position: np.ndarray
    focal: float
    fov: float
    view: str
    fill: float


def _sample_camera(world: np.ndarray, heading0: float, length: float, height: float, c: SynthConfig,
                   rng: np.random.Generator) -> _CameraPath:
    """Camera following the animal: smooth orbit, elevation, zoom and aim jitter.

    Unless ``allow_exit``, the distance grows until every vertex of every frame is in view.
    """
    h, w = c.size_hw
    T = len(world)
    tn = np.linspace(0.0, 1.0, T)
    views = list(c.views)
    pv = np.array([c.views[k] for k in views], dtype=float)
    view = views[int(rng.choice(len(views), p=pv / pv.sum()))]
    side = float(rng.choice([-1.0, 1.0]))
    rel = {"side": 90.0, "oblique": float(rng.choice([45.0, 135.0])), "front": 0.0, "back": 180.0}[view]
    rel = np.deg2rad(side * rel + rng.uniform(-15, 15))
    azimuth = heading0 + rel + np.deg2rad(c.orbit_deg) * smooth_curve(rng, tn, 1.0, max_cycles=0.7)
    elevation = np.deg2rad(np.clip(rng.uniform(*c.elevation_deg) + smooth_curve(rng, tn, 5.0, 0.7), 1.0, 89.0))
    fov = float(np.deg2rad(rng.uniform(*c.fov_deg)))
    focal = float((w / 2.0) / np.tan(fov / 2))
    fill = float(rng.uniform(*c.fill))
    dist = focal * length / (fill * min(w, h)) * (1.0 + smooth_curve(rng, tn, c.zoom, max_cycles=0.8))
    pan = c.pan * (3.0 if c.allow_exit else 1.0)
    pan_x = smooth_curve(rng, tn, pan, max_cycles=1.0)
    pan_y = smooth_curve(rng, tn, pan, max_cycles=1.0)
    centre = world.mean(1)
    centre[:, 2] = 0.5 * height
    # smooth the target so the camera follows the animal without the gait's jitter
    kern = np.exp(-0.5 * (np.arange(-6, 7) / 3.0) ** 2)
    pad = np.pad(centre, ((6, 6), (0, 0)), mode="edge")
    target = np.stack([np.convolve(pad[:, i], kern / kern.sum(), mode="valid") for i in range(3)], 1)
    offs = np.stack([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)], 1)
    jitter = np.stack([Rotation.from_euler("yx", [pan_x[t] * fov, pan_y[t] * fov]).as_matrix() for t in range(T)])
    scale = 1.0
    for _ in range(8):
        position = target + (dist * scale)[:, None] * offs
        R_cw = np.einsum("tij,tjk->tik", jitter, np.stack([look_at(position[t], target[t]) for t in range(T)]))
        cam = np.einsum("tij,tvj->tvi", R_cw, world - position[:, None])
        px = focal * cam[..., :2] / cam[..., 2:3] + np.array([w / 2.0, h / 2.0])
        inside = (px[..., 0] >= 0) & (px[..., 0] <= w) & (px[..., 1] >= 0) & (px[..., 1] <= h)
        if c.allow_exit or inside.all():
            break
        scale *= 1.15
    return _CameraPath(R_cw, position, focal, fov, view, fill)


def _ground_truth(model: Any, kp_set: Any, betas: np.ndarray, motion: _Motion, camera: _CameraPath) -> dict:
    """Model parameters reproducing the camera-frame mesh: root = model->camera rotation, trans
    = the constant offset between the posed model and the camera-frame world vertices."""
    T = len(motion.pose)
    verts_cam = np.einsum("tij,tvj->tvi", camera.R_cw, motion.vertices - camera.position[:, None])
    pose = motion.pose.copy()
    pose[:, 0] = Rotation.from_matrix(np.einsum("tij,tjk->tik", camera.R_cw, motion.R_world)).as_rotvec()
    with torch.no_grad():
        bt = torch.as_tensor(betas)[None].expand(T, -1)
        pg = torch.as_tensor(pose, dtype=torch.float32)
        trans = (verts_cam - model(bt, pg, torch.zeros(T, 3)).vertices.numpy()).mean(1)
        out = model(bt, pg, torch.as_tensor(trans, dtype=torch.float32))
        kp3d = kp_set.select(out, model).numpy().astype(np.float64)
    return {"pose": pose, "trans": trans, "vertices": out.vertices.numpy().astype(np.float64),
            "joints": out.joints.numpy(), "kp3d": kp3d}


def _render_frames(model: Any, gt: dict, colours: np.ndarray, motion: _Motion, camera: _CameraPath,
                   env: Environment, c: SynthConfig, rng: np.random.Generator, length: float,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames (T, H, W, 3), masks (T, H, W) and keypoints (T, K, 3) [x, y, visible]."""
    h, w = c.size_hw
    T = len(motion.pose)
    tn = np.linspace(0.0, 1.0, T)
    drift = np.deg2rad(c.light_drift_deg)
    sun_az = rng.uniform(0, 2 * np.pi) + drift * smooth_curve(rng, tn, 1.0, 0.5)
    sun_el = np.deg2rad(rng.uniform(35, 70)) + drift * smooth_curve(rng, tn, 0.5, 0.5)
    to_sun = np.stack([np.cos(sun_el) * np.cos(sun_az), np.cos(sun_el) * np.sin(sun_az), np.sin(sun_el)], 1)
    ambient = rng.uniform(*c.ambient) + smooth_curve(rng, tn, 0.05, 0.5)
    cam = Camera(camera.focal, (h, w))
    kp3d = gt["kp3d"]
    kp_xy = cam.project(torch.as_tensor(kp3d, dtype=torch.float32)).numpy()
    # joints lie inside limbs: their depth tolerance is their distance to the surface
    radius = np.stack([np.sqrt(((kp3d[t][:, None] - gt["vertices"][t][None]) ** 2).sum(-1)).min(1) for t in range(T)])
    radius = radius * c.visibility_radius_scale + c.visibility_eps * length
    renderer = ShadedRenderer((h, w))
    centre = np.array([w / 2.0, h / 2.0])
    frames = np.zeros((T, h, w, 3), np.uint8)
    masks = np.zeros((T, h, w), bool)
    vis = np.zeros(kp3d.shape[:2], bool)
    for t in range(T):
        R, pos = camera.R_cw[t], camera.position[t]
        bg = env.render(R, pos, camera.focal, (h, w))
        if c.shadow:  # world vertices projected along the sun onto the ground, then to pixels
            wv = motion.vertices[t]
            ground = (wv - (wv[:, 2:3] / to_sun[t, 2]) * to_sun[t] - pos) @ R.T
            ok = ground[:, 2] > 1e-6
            bg = darken_shadow(bg, camera.focal * ground[ok, :2] / ground[ok, 2:3] + centre, 0.45,
                               blur_px=max(1.0, 0.01 * min(w, h)))
        res = renderer.render(torch.as_tensor(gt["vertices"][t], dtype=torch.float32), model.faces, cam,
                              vertex_colors=colours, background=bg, light_dir=R @ to_sun[t],
                              ambient=float(ambient[t]))
        frames[t], masks[t] = res.image, res.mask
        vis[t] = visible_keypoints(kp3d[t], kp_xy[t].astype(np.float64), res.depth.astype(np.float64),
                                   radius[t], (h, w))
    keypoints = np.concatenate([kp_xy, vis[..., None]], axis=2).astype(np.float32)
    return frames, masks, keypoints


def _appearance(rest: np.ndarray, family: str, length: float, c: SynthConfig, r_texture: np.random.Generator,
                r_env: np.random.Generator) -> tuple[np.ndarray, str, Environment]:
    """Per-vertex body colours, the pattern name and the environment of a sequence."""
    colours, pattern = body_colors(rest, family, r_texture, pattern=None if c.texture else "plain")
    if not c.texture:
        colours = np.median(colours, axis=0, keepdims=True).repeat(len(colours), 0)
    env = Environment.random(r_env, length, clutter=c.clutter if c.background == "clutter" else 0)
    if c.background == "plain":
        env.ground[:] = env.ground.reshape(-1, 3).mean(0).astype(np.uint8)
        env.ground_far[:] = env.ground[0, 0]
        env.panorama[:] = env.haze.astype(np.uint8)
    return colours, pattern, env


def _write_annotations(out_dir: Path, c: SynthConfig, kp_set: Any, keypoints: np.ndarray, masks: np.ndarray) -> None:
    """keypoints.json on every ``keypoint_every``-th frame and masks on every ``mask_every``-th."""
    T = len(keypoints)
    h, w = c.size_hw
    ann_kp = {}
    for t in range(T):
        if t % c.keypoint_every == c.keypoint_offset % c.keypoint_every:
            k = keypoints[t].copy()
            k[k[:, 2] == 0, :2] = 0.0
            ann_kp[t] = k
    ann_masks = {t: masks[t] for t in range(T) if t % c.mask_every == c.mask_offset % c.mask_every}
    write_annotation_dir(out_dir / "annotations", AnnotationSet(
        keypoint_set=c.keypoint_set, names=list(kp_set.names), image_size=(w, h), keypoints=ann_kp, masks=ann_masks))


def generate_sequence(out_dir: str | Path, seed: int, cfg: Mapping[str, Any] | SynthConfig | None = None,
                      family: str | None = None, model: Any = None) -> SequenceInfo:
    """Render one synthetic sequence with annotations and ground truth into ``out_dir``.

    ``family`` forces the shape family (else drawn from ``cfg.families``); ``model`` reuses a
    loaded AnimalModel (else ``load_model(cfg.model)``). Same seed and cfg give identical
    annotations, ground truth and frames; the mp4 bytes may differ slightly (libx264 threading).
    """
    t_start = time.perf_counter()
    c = cfg if isinstance(cfg, SynthConfig) else SynthConfig.from_dict(cfg)
    out_dir = Path(out_dir)
    model = model if model is not None else load_model(c.model)
    kp_set = load_keypoint_set(c.keypoint_set)
    T = int(c.n_frames)
    r_shape, r_motion, r_camera, r_texture, r_env, r_light = (
        np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(6))

    family = family or str(c.families[int(r_shape.integers(len(c.families)))])
    betas = _sample_betas(model, family, r_shape, c.beta_scale)
    delta_v = None
    if c.off_model > 0:  # the animal's own offsets; every model call below includes them
        delta_v = off_model_offsets(model, betas, np.random.default_rng(np.random.SeedSequence(int(seed)).spawn(7)[6]),
                                    c.off_model)
        model = with_offsets(model, delta_v)
    rest = _posed_model_frame(model, betas, np.zeros((1, int(model.num_joints), 3)))[0]
    length, height = float(np.ptp(rest[:, 0])), float(np.ptp(rest[:, 2]))
    motion = _sample_motion(model, betas, c, r_motion)
    camera = _sample_camera(motion.vertices, float(motion.heading[0]), length, height, c, r_camera)
    gt = _ground_truth(model, kp_set, betas, motion, camera)
    colours, pattern, env = _appearance(rest, family, length, c, r_texture, r_env)
    frames, masks, keypoints = _render_frames(model, gt, colours, motion, camera, env, c, r_light, length)

    out_dir.mkdir(parents=True, exist_ok=True)
    _write_annotations(out_dir, c, kp_set, keypoints, masks)
    datasets = {
        "masks": masks,
        "has_mask": np.ones(T, bool),
        "keypoints": keypoints,
        "vertices": gt["vertices"].astype(np.float32),
        "joints": gt["joints"].astype(np.float32),
        "betas": np.repeat(betas[None], T, 0).astype(np.float32),
        "pose": gt["pose"].astype(np.float32),
        "trans": gt["trans"].astype(np.float32),
        "focal": np.full(T, camera.focal, np.float32),
    }
    if delta_v is not None:
        datasets["delta_v"] = delta_v
    write_artifact(out_dir / "ground_truth.h5", "ground_truth", datasets,
                   {"family": family, "keypoint_names": list(kp_set.names)},
                   created_by=f"synthetic seed={int(seed)}")
    if c.write_video:
        write_mp4(out_dir / "video.mp4", frames, fps=c.fps)
    if c.write_frames:
        (out_dir / "frames").mkdir(exist_ok=True)
        for t in range(T):
            cv2.imwrite(str(out_dir / "frames" / f"{t:06d}.png"), frames[t][..., ::-1])
    params = {
        "seed": int(seed), "family": family, "gait": motion.gait, "pattern": pattern, "gait_hz": motion.hz,
        "amplitude": motion.amplitude, "speed": motion.speed, "view": camera.view,
        "fov_deg": float(np.rad2deg(camera.fov)), "focal": camera.focal, "fill": camera.fill, "body_length": length,
        "camera_rotation": np.round(camera.R_cw, 7).tolist(), "camera_position": np.round(camera.position, 7).tolist(),
        "config": _jsonable(asdict(c)),
    }
    (out_dir / "synthetic.json").write_text(json.dumps(params, indent=1, sort_keys=True))
    seconds = time.perf_counter() - t_start
    return SequenceInfo(out_dir, int(seed), family, motion.gait, pattern, T, seconds, params)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def sequence_seed(seed: int, index: int) -> int:
    """The seed of sequence ``index`` of a dataset generated with ``seed`` (stable, independent)."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


def generate_dataset(out_root: str | Path, n_sequences: int, seed: int,
                     cfg: Mapping[str, Any] | SynthConfig | None = None,
                     name_format: str = "synth{index:03d}") -> list[SequenceInfo]:
    """Generate ``n_sequences`` sequences under ``out_root``; families cycle through the list.

    The family of sequence i is ``families[(i + o) % len(families)]`` with a seed-dependent
    offset o, so every family appears in datasets of at least ``len(families)`` sequences.
    """
    c = cfg if isinstance(cfg, SynthConfig) else SynthConfig.from_dict(cfg)
    model = load_model(c.model)
    offset = int(np.random.default_rng(int(seed)).integers(len(c.families)))
    infos = []
    for i in range(int(n_sequences)):
        fam = c.families[(i + offset) % len(c.families)]
        path = Path(out_root) / name_format.format(index=i)
        infos.append(generate_sequence(path, sequence_seed(seed, i), c, family=fam, model=model))
    return infos


DEMO_SETS: dict[str, dict[str, Any]] = {"generic": GENERIC_TRAINING_CFG, "dataset": {}}
"""Built-in overrides of the workflow's demo sets (the config's ``demo.<set>`` goes on top)."""


def demo_sequence(out_dir: str | Path, set_name: str, sequence: str, cfg: Mapping[str, Any], seed: int) -> SequenceInfo:
    """One sequence of a workflow demo set: the trailing number of ``sequence`` is its index,
    which picks its family (cycling through ``families``) and, with the set, its seed."""
    if set_name not in DEMO_SETS:
        raise ValueError(f"demo set {set_name!r} is not one of {sorted(DEMO_SETS)}")
    digits = re.search(r"(\d+)$", sequence)
    if digits is None:
        raise ValueError(f"demo sequence name {sequence!r} must end in its index, e.g. {sequence}_00")
    index = int(digits.group(1))
    merged = SynthConfig.from_dict({**DEMO_SETS[set_name], **dict(cfg)})
    family = merged.families[index % len(merged.families)]
    set_offset = sorted(DEMO_SETS).index(set_name) * 100_003
    return generate_sequence(out_dir, sequence_seed(seed + set_offset, index), merged, family=family)
