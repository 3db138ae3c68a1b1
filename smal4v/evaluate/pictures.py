"""Pictures for people: a contact sheet of the model's families and poses, and a ground-truth
overlay GIF of a synthetic sequence (to check by eye that annotations match the video)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
import torch

from smal4v.data.annotations import read_annotation_dir
from smal4v.data.artifacts import read_artifact
from smal4v.data.synthetic import look_at
from smal4v.data.video import read_video, write_gif
from smal4v.evaluate.overlays import draw_keypoints, label, mesh_overlay
from smal4v.model import load_model
from smal4v.model.gait import gait_pose

POSE_NAMES = ("stand", "walk", "trot")
_FAMILY_COLOURS = [(0.85, 0.62, 0.40), (0.55, 0.70, 0.85), (0.60, 0.80, 0.55), (0.85, 0.75, 0.45),
                   (0.80, 0.55, 0.65), (0.65, 0.60, 0.85), (0.75, 0.75, 0.75)]


def named_pose(name: str, n_joints: int) -> np.ndarray:
    """A pose (J, 3) by name: ``stand`` (all zero), ``walk`` or ``trot`` (mid-stride gait frame)."""
    if name == "stand":
        return np.zeros((n_joints, 3))
    if name in ("walk", "trot"):
        return np.asarray(gait_pose(np.array([0.3]), name)[0][:n_joints], dtype=np.float64)
    raise ValueError(f"unknown pose name {name!r}; expected one of {POSE_NAMES}")


def _three_quarter_view(vertices: np.ndarray, size: int, azimuth_deg: float = 40.0,
                        elevation_deg: float = 20.0, margin: float = 0.85) -> tuple[np.ndarray, float, np.ndarray]:
    """Camera-frame vertices, focal and principal point framing a model-frame mesh in a square cell.

    The camera sits front-left-above the animal (x forward, z up); the mesh is centred and
    scaled to ``margin`` of the cell.
    """
    centre = (vertices.max(0) + vertices.min(0)) / 2
    radius = float(np.linalg.norm(vertices - centre, axis=1).max())
    az, el = np.deg2rad(azimuth_deg), np.deg2rad(elevation_deg)
    cam = centre + 4.0 * radius * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    v = (vertices - cam) @ look_at(cam, centre).T
    xy = v[:, :2] / v[:, 2:3]
    lo, hi = xy.min(0), xy.max(0)
    focal = margin * size / float(np.max(hi - lo))
    principal = size / 2.0 - focal * (lo + hi) / 2
    return v, focal, principal


def contact_sheet(model: Any, out_png: str | Path, families: Sequence[str] | None = None,
                  poses: Sequence[str] = POSE_NAMES, size: int = 160) -> Path:
    """Render a grid (rows: shape families at their mean betas, columns: poses) to a PNG.

    Each ``size`` x ``size`` cell is a shaded 3/4 view labelled ``family / pose``. Returns the path.
    """
    fams = {f.name: f for f in model.shape_families}
    names = list(families) if families is not None else list(fams)
    missing = [n for n in names if n not in fams]
    if missing:
        raise ValueError(f"model has no shape family {missing}; it has {sorted(fams)}")
    if not names:
        names = ["template"]
    J = int(model.num_joints)
    pose = torch.as_tensor(np.stack([named_pose(p, J) for p in poses]), dtype=torch.float32)
    bg = np.full((size, size, 3), 245, np.uint8)
    bg[: size // 2] = 255  # subtle two-tone background
    rows = []
    for r, name in enumerate(names):
        betas = np.asarray(fams[name].mean, dtype=np.float32) if name in fams else np.zeros(model.num_betas, np.float32)
        with torch.no_grad():
            b = torch.as_tensor(betas)[None].expand(len(poses), -1)
            verts = model(b, pose, torch.zeros(len(poses), 3)).vertices.numpy().astype(np.float64)
        colour = _FAMILY_COLOURS[r % len(_FAMILY_COLOURS)]
        cells = []
        for c, pose_name in enumerate(poses):
            v, focal, principal = _three_quarter_view(verts[c], size)
            img = mesh_overlay(bg, v, model.faces, focal, principal, colour, alpha=1.0)
            cells.append(label(img, f"{name} / {pose_name}"))
        rows.append(np.concatenate(cells, axis=1))
    sheet = np.concatenate(rows, axis=0)
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out_png), sheet[..., ::-1]):
        raise OSError(f"cannot write contact sheet {out_png}")
    return out_png


def overlay_gif(sequence_dir: str | Path, out_gif: str | Path, model: Any = None, alpha: float = 0.45,
                every: int = 1, max_side: int | None = 256, fps: float = 10.0) -> Path:
    """Write a GIF of a synthetic sequence with its ground truth drawn over the video.

    Each frame shows the GT mesh blended with ``alpha`` and the GT keypoints (visible: filled
    green dots; hidden ones are not drawn); annotated frames (keypoints.json) get a yellow border
    and an ``annotated`` tag. ``model`` defaults to the one named in ``synthetic.json``.
    """
    seq = Path(sequence_dir)
    video_path = seq / "video.mp4" if (seq / "video.mp4").exists() else seq / "frames"
    frames = read_video(video_path).frames
    gt = read_artifact(seq / "ground_truth.h5", "ground_truth", ["vertices", "keypoints", "focal"])
    if len(frames) != len(gt["vertices"]):
        raise ValueError(f"{seq}: video has {len(frames)} frames but ground_truth.h5 has {len(gt['vertices'])}")
    annotated: set[int] = set()
    if (seq / "annotations").is_dir():
        annotated = set(read_annotation_dir(seq / "annotations").keypoints)
    if model is None:
        meta = seq / "synthetic.json"
        spec = json.loads(meta.read_text())["config"]["model"] if meta.exists() else "procedural"
        model = load_model(spec)
    h, w = frames.shape[1:3]
    out = []
    for t in range(0, len(frames), max(1, int(every))):
        img = mesh_overlay(frames[t], gt["vertices"][t], model.faces, float(gt["focal"][t]),
                           np.array([w / 2.0, h / 2.0]), (0.0, 172 / 255, 223 / 255), alpha=alpha)
        kp = gt["keypoints"][t]
        img = draw_keypoints(img, kp[:, :2], (40, 230, 40), kp[:, 2] > 0, radius=max(2, round(min(h, w) / 100)))
        img = label(img, f"{t} annotated" if t in annotated else f"{t}")
        if t in annotated:  # the border goes over the caption box, so it stays visible all round
            cv2.rectangle(img, (1, 1), (w - 2, h - 2), (255, 220, 0), max(2, min(h, w) // 80))
        out.append(img)
    return write_gif(out_gif, np.stack(out), fps=fps, max_side=max_side)
