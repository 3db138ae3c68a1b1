"""The base network's generic training set: single synthetic images rendered at crop size with
exact 3D truth, as varied as the renderer allows.

Each image is one animal (random family or an off-family shape, a gait pose at a random phase
with random joint noise kept inside the joint limits) on a textured ground, seen from a random
azimuth, elevation, distance, field of view and camera roll, with the animal off centre or
partly outside the crop. It is rendered straight into the crop camera (principal point at the
crop centre), so the crop-camera ground truth (betas, pose, trans, focal) is exact, unlike
crops cut from a video frame (:func:`smal4v.train.stages.crop_ground_truth`).

Rendering costs ~0.05-0.1 s per 128 px image on one core; the workflow renders the set in
shards (one job each) and caches it as ``generic_images`` HDF5 artifacts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from smal4v.data.artifacts import read_artifact, write_artifact
from smal4v.data.off_model import off_model_offsets
from smal4v.data.synthetic import _WIGGLE_JOINTS, _gait_poses, _sample_betas, look_at, visible_keypoints
from smal4v.data.textures import Environment, body_colors, darken_shadow
from smal4v.model import load_keypoint_set, load_model
from smal4v.model.keypoints import KeypointSet
from smal4v.render import Camera, ShadedRenderer
from smal4v.settings import build_settings


@dataclass
class GenericImageConfig:
    """How the generic images are sampled (every range is [low, high], drawn uniformly)."""

    n_images: int = 2000  # images in the whole set (0 = none: base trains on generic videos only)
    shards: int = 4  # the set is rendered in this many jobs (one HDF5 file each)
    image_size: int = 128  # crop side S in pixels (the workflow sets the network's input size)
    families: list[str] = field(default_factory=list)  # shape families to draw from ([] = every family of the model)
    beta_scale: list[float] = field(default_factory=lambda: [0.5, 1.6])  # std multiplier of the family Gaussian
    off_family: float = 0.2  # share of shapes drawn around no family (betas ~ N(0, off_family_std^2))
    off_family_std: float = 1.3
    gaits: list[str] = field(default_factory=lambda: ["walk", "trot"])
    gait_amplitude: list[float] = field(default_factory=lambda: [0.3, 1.5])
    joint_noise: float = 0.15  # std (rad) of independent noise on every non-root joint, clipped to the limits
    wiggle: float = 0.35  # extra std (rad) on neck, head, tail and ears
    azimuth_deg: list[float] = field(default_factory=lambda: [0.0, 360.0])  # camera direction about the animal (0 = in front)
    elevation_deg: list[float] = field(default_factory=lambda: [-5.0, 50.0])
    fov_deg: list[float] = field(default_factory=lambda: [25.0, 60.0])
    fill: list[float] = field(default_factory=lambda: [0.6, 0.95])  # longer side of the animal's box / crop side
    shift: float = 0.05  # std of the animal box centre's offset from the crop centre (fraction of the crop)
    truncate: float = 0.1  # share of images shifted 0.3-0.5 crop sides (animal partly outside)
    roll_deg: float = 8.0  # std of the camera roll
    environments: int = 24  # distinct backgrounds per shard (ground/sky textures), reused with jitter
    clutter: list[int] = field(default_factory=lambda: [0, 80])
    ambient: list[float] = field(default_factory=lambda: [0.25, 0.7])
    shadow: float = 0.7  # share of images with a ground shadow
    plain_texture: float = 0.15  # share of animals in one plain colour
    visibility_radius_scale: float = 1.5
    visibility_eps: float = 0.01
    off_model: float = 0.0  # size of per-animal offsets outside the shape space (smal4v.data.off_model); 0 = none

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any] | None, where: str = "generic images") -> "GenericImageConfig":
        """Typed settings with defaults; unknown keys raise ValueError naming them."""
        return build_settings(cls, dict(cfg or {}), where)


DATASETS = ("images", "masks", "keypoints", "betas", "pose", "trans", "focal")
"""Datasets of every ``generic_images`` artifact (smal4v/data/artifacts.py); ``delta_v`` is added
when the set was rendered with ``off_model`` > 0."""


@dataclass
class GenericImages:
    """A rendered set: images (N, S, S, 3) uint8, masks (N, S, S) bool, keypoints (N, K, 3) crop
    px + visibility, and crop-camera truth betas (N, B), pose (N, J, 3), trans (N, 3), focal (N,);
    ``delta_v`` (N, V, 3) each animal's off-model offsets (None when rendered without them)."""

    images: np.ndarray
    masks: np.ndarray
    keypoints: np.ndarray
    betas: np.ndarray
    pose: np.ndarray
    trans: np.ndarray
    focal: np.ndarray
    family: list[str]
    delta_v: np.ndarray | None = None

    def arrays(self) -> dict[str, np.ndarray]:
        """The datasets of the ``generic_images`` artifact."""
        extra = {} if self.delta_v is None else {"delta_v": self.delta_v}
        return {**{k: getattr(self, k) for k in DATASETS}, **extra}


def _u(rng: np.random.Generator, lo_hi: list[float]) -> float:
    return float(rng.uniform(lo_hi[0], lo_hi[1]))


def _sample_shape(model: Any, c: GenericImageConfig, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Betas of one animal and its family name ("off_family" for shapes around no family)."""
    if rng.uniform() < c.off_family:
        nb = int(model.num_betas)
        return (rng.normal(size=nb) * c.off_family_std).astype(np.float32), "off_family"
    families = c.families or [f.name for f in model.shape_families]
    family = str(families[int(rng.integers(len(families)))])
    return _sample_betas(model, family, rng, _u(rng, c.beta_scale)), family


def _sample_pose(model: Any, c: GenericImageConfig, rng: np.random.Generator) -> np.ndarray:
    """(J, 3) axis-angle: gait at a random phase + joint noise, inside the joint limits; root 0."""
    J = int(model.num_joints)
    gait = str(c.gaits[int(rng.integers(len(c.gaits)))])
    pose = _gait_poses(np.array([rng.uniform()]), gait, _u(rng, c.gait_amplitude), J)[0]
    pose[1:] += rng.normal(size=(J - 1, 3)) * c.joint_noise
    for j in _WIGGLE_JOINTS:
        if j < J:
            pose[j] += rng.normal(size=3) * c.wiggle
    prior = getattr(model, "pose_prior", None)
    if prior is not None and prior.limits is not None:
        lim = np.asarray(prior.limits, dtype=np.float64)
        pose[1:] = np.clip(pose[1:], lim[1:, :, 0], lim[1:, :, 1])
    pose[0] = 0.0
    return pose


def _aim(R: np.ndarray, position: np.ndarray, verts: np.ndarray, focal: float, S: int, fill: float,
         shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Move the camera along its axis and turn it so the animal's box spans ``fill`` of the crop
    (longer side) with its centre ``shift`` crop sides away from the crop centre."""
    for _ in range(3):
        cam = (verts - position) @ R.T
        px = focal * cam[:, :2] / cam[:, 2:3]
        lo, hi = px.min(0), px.max(0)
        side = float((hi - lo).max())
        depth = float(np.median(cam[:, 2]))
        position = position + R[2] * depth * (1.0 - side / (fill * S))  # closer or farther along the view axis
        cam = (verts - position) @ R.T
        px = focal * cam[:, :2] / cam[:, 2:3]
        centre = (px.min(0) + px.max(0)) / 2 - shift * S  # where the box centre should move from
        turn = Rotation.from_euler("yx", [math.atan2(centre[0], focal), -math.atan2(centre[1], focal)]).as_matrix()
        R = turn.T @ R
    return R, position


def _camera(verts: np.ndarray, length: float, c: GenericImageConfig, rng: np.random.Generator
            ) -> tuple[np.ndarray, np.ndarray, float]:
    """World-to-camera rotation, camera centre and focal (crop px) for one image: a random view
    direction, then framed like the workflow's animal-following crops (box ``fill`` of the side)."""
    S = c.image_size
    fov = math.radians(_u(rng, c.fov_deg))
    focal = (S / 2.0) / math.tan(fov / 2)
    fill = _u(rng, c.fill)
    az, el = math.radians(_u(rng, c.azimuth_deg)), math.radians(_u(rng, c.elevation_deg))
    centre = (verts.min(0) + verts.max(0)) / 2
    dist = focal * length / (fill * S)
    position = centre + dist * np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
    position[2] = max(position[2], 0.05 * length)  # stay above the ground
    roll = Rotation.from_euler("z", rng.normal() * math.radians(c.roll_deg)).as_matrix()
    R = roll @ look_at(position, centre)
    shift = rng.normal(size=2) * c.shift
    if rng.uniform() < c.truncate:
        shift = rng.choice([-1.0, 1.0], size=2) * rng.uniform(0.3, 0.5, size=2) * (rng.uniform(size=2) < 0.7)
    R, position = _aim(R, position, verts, focal, S, fill, shift)
    return R, position, focal


def render_generic_images(model: Any, keypoint_set: KeypointSet, cfg: GenericImageConfig | Mapping[str, Any],
                          n_images: int, seed: int, progress: bool = False) -> GenericImages:
    """Render ``n_images`` varied single-animal crops with exact crop-camera truth (deterministic in ``seed``)."""
    c = cfg if isinstance(cfg, GenericImageConfig) else GenericImageConfig.from_dict(cfg)
    S = int(c.image_size)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x6E1]))
    envs = [Environment.random(np.random.default_rng(np.random.SeedSequence([int(seed), 0x6E2, i])), 1.0,
                               clutter=int(rng.integers(c.clutter[0], c.clutter[1] + 1)))
            for i in range(max(1, int(c.environments)))]
    renderer, cam = ShadedRenderer((S, S)), None
    K, J = len(keypoint_set.names), int(model.num_joints)
    out = GenericImages(np.zeros((n_images, S, S, 3), np.uint8), np.zeros((n_images, S, S), bool),
                        np.zeros((n_images, K, 3), np.float32), np.zeros((n_images, int(model.num_betas)), np.float32),
                        np.zeros((n_images, J, 3), np.float32), np.zeros((n_images, 3), np.float32),
                        np.zeros(n_images, np.float32), [])
    if c.off_model > 0:
        out.delta_v = np.zeros((n_images, int(model.num_vertices), 3), np.float32)
    faces = model.faces
    for i in _progress(range(n_images), progress):
        betas, family = _sample_shape(model, c, rng)
        pose = _sample_pose(model, c, rng)
        delta = None
        if out.delta_v is not None:  # its own stream: the set without offsets stays the same images
            out.delta_v[i] = off_model_offsets(model, betas, np.random.default_rng(np.random.SeedSequence([int(seed), 0x6E3, i])),
                                               c.off_model)
            delta = torch.as_tensor(out.delta_v[i])[None]
        with torch.no_grad():
            b, p = torch.as_tensor(betas)[None], torch.as_tensor(pose, dtype=torch.float32)[None]
            posed = model(b, p, torch.zeros(1, 3), None, delta)
        verts = posed.vertices[0].numpy().astype(np.float64)
        verts[:, 2] -= verts[:, 2].min()  # standing on the ground (model frame = world frame)
        length = float(np.ptp(verts[:, 0]))
        R_cw, position, focal = _camera(verts, length, c, rng)
        verts_cam = (verts - position) @ R_cw.T
        pose[0] = Rotation.from_matrix(R_cw).as_rotvec()
        with torch.no_grad():
            p = torch.as_tensor(pose, dtype=torch.float32)[None]
            trans = (verts_cam - model(b, p, torch.zeros(1, 3), None, delta).vertices[0].numpy()).mean(0)
            final = model(b, p, torch.as_tensor(trans, dtype=torch.float32)[None], None, delta)
            kp3d = keypoint_set.select(final, model)[0].numpy().astype(np.float64)
        verts_cam = final.vertices[0].numpy().astype(np.float64)
        cam = Camera(float(focal), (S, S))
        env = envs[int(rng.integers(len(envs)))]
        bg = env.render(R_cw, position / length, focal, (S, S))  # environments are built for a body length of 1
        sun = np.array([rng.normal(), rng.normal(), rng.uniform(0.6, 1.6)])
        sun /= np.linalg.norm(sun)
        if rng.uniform() < c.shadow:
            ground = (verts - (verts[:, 2:3] / sun[2]) * sun - position) @ R_cw.T
            ok = ground[:, 2] > 1e-6
            bg = darken_shadow(bg, focal * ground[ok, :2] / ground[ok, 2:3] + S / 2.0, rng.uniform(0.2, 0.5),
                               blur_px=max(1.0, 0.01 * S))
        colours, _ = body_colors(verts, family if family != "off_family" else "generic", rng,
                                 pattern="plain" if rng.uniform() < c.plain_texture else None)
        res = renderer.render(torch.as_tensor(verts_cam, dtype=torch.float32), faces, cam, vertex_colors=colours,
                              background=bg, light_dir=R_cw @ sun, ambient=_u(rng, c.ambient))
        xy = cam.project(torch.as_tensor(kp3d, dtype=torch.float32)[None])[0].numpy().astype(np.float64)
        radius = np.sqrt(((kp3d[:, None] - verts_cam[None]) ** 2).sum(-1)).min(1) * c.visibility_radius_scale
        vis = visible_keypoints(kp3d, xy, res.depth.astype(np.float64), radius + c.visibility_eps * length, (S, S))
        out.images[i], out.masks[i] = res.image, res.mask
        out.keypoints[i] = np.concatenate([xy, vis[:, None]], 1)
        out.betas[i], out.pose[i], out.trans[i], out.focal[i] = betas, pose, trans, focal
        out.family.append(family)
    return out


def shard_size(c: GenericImageConfig, shard: int) -> int:
    """Images in shard ``shard`` of ``c.shards`` (the remainder goes to the first shards)."""
    if not 0 <= shard < c.shards:
        raise ValueError(f"generic image shard {shard} is not in 0..{c.shards - 1}")
    return c.n_images // c.shards + (1 if shard < c.n_images % c.shards else 0)


def write_generic_shard(out_path: str, cfg: Mapping[str, Any], shard: int, image_size: int, model_spec: str,
                        keypoint_set: str, seed: int, created_by: str) -> None:
    """Render shard ``shard`` of the generic image set (its own seed) into a ``generic_images`` artifact."""
    c = GenericImageConfig.from_dict({**dict(cfg), "image_size": int(image_size)}, "config generic_images")
    kps = load_keypoint_set(keypoint_set)
    images = render_generic_images(load_model(model_spec), kps, c, shard_size(c, shard), seed * 7919 + shard)
    write_artifact(out_path, "generic_images", images.arrays(), {"keypoint_names": list(kps.names)}, created_by)


def read_generic_images(paths: list[str], offsets: bool = False) -> dict[str, np.ndarray]:
    """The datasets of several ``generic_images`` shards, concatenated row-wise; with ``offsets``,
    also ``delta_v`` where every shard has it (~27 KB per image, so only read when used)."""
    parts = [read_artifact(p, "generic_images", None if offsets else list(DATASETS)) for p in paths]
    if not parts:
        raise ValueError("no generic image shard to read")
    keys = [*DATASETS, *(["delta_v"] if offsets and all("delta_v" in p for p in parts) else [])]
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


def _progress(it: range, on: bool) -> Any:
    if not on:
        return it
    from tqdm import tqdm

    return tqdm(it, desc="generic images", leave=False)
