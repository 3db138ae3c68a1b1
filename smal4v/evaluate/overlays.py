"""Side-by-side overlay videos: the input frame next to each variant's mesh and keypoints."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from smal4v.data.artifacts import read_artifact
from smal4v.data.video import write_gif, write_mp4
from smal4v.evaluate.meshes import write_obj_sequence
from smal4v.model import load_model
from smal4v.render import Camera, ShadedRenderer

VARIANT_COLOURS = {
    "base": (0.85, 0.45, 0.30),
    "parent": (0.95, 0.75, 0.25),
    "online_single": (0.55, 0.80, 0.40),
    "online": (0.0, 172 / 255, 223 / 255),
    "refined": (0.70, 0.40, 0.85),
    "c2f": (0.95, 0.45, 0.65),
    "online_c2f": (0.30, 0.75, 0.75),
}


def draw_keypoints(image: np.ndarray, keypoints: np.ndarray, colour: tuple[int, int, int],
                   visible: np.ndarray | None = None, radius: int = 3) -> np.ndarray:
    """Draw (K,2) pixel keypoints as filled dots (hidden/NaN ones skipped); returns a copy."""
    out = image.copy()
    for k, (x, y) in enumerate(keypoints):
        if (visible is not None and not visible[k]) or not np.isfinite([x, y]).all():
            continue
        cv2.circle(out, (int(round(x)), int(round(y))), radius, colour, -1, lineType=cv2.LINE_AA)
        cv2.circle(out, (int(round(x)), int(round(y))), radius, (0, 0, 0), 1, lineType=cv2.LINE_AA)
    return out


def mesh_overlay(frame: np.ndarray, vertices: np.ndarray, faces: np.ndarray, focal: float,
                 principal: np.ndarray, colour: tuple[float, float, float], alpha: float = 0.7) -> np.ndarray:
    """Blend a shaded render of one mesh (camera-frame vertices) over a frame."""
    h, w = frame.shape[:2]
    camera = Camera(torch.tensor([float(focal)]), (h, w), torch.as_tensor(principal, dtype=torch.float32)[None])
    colours = np.tile(np.asarray(colour, dtype=np.float32), (len(vertices), 1))
    result = ShadedRenderer((h, w)).render(torch.as_tensor(vertices, dtype=torch.float32), faces, camera,
                                           vertex_colors=colours)
    out = frame.astype(np.float32)
    m = result.mask[..., None]
    out = np.where(m, (1 - alpha) * out + alpha * result.image.astype(np.float32), out)
    return out.astype(np.uint8)


def label(image: np.ndarray, text: str) -> np.ndarray:
    """Write a white caption on a dark box in the top-left corner (legible on any background)."""
    out = image.copy()
    scale = max(0.4, image.shape[0] / 400)
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(out, (0, 0), (w + 8, h + base + 6), (0, 0, 0), -1)
    cv2.putText(out, text, (4, h + 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def overlay_frames(frames: np.ndarray, annotations_kp: np.ndarray, predictions: dict[str, dict],
                   faces: np.ndarray, panel_height: int = 240) -> np.ndarray:
    """Compose (N, h, n_panels*w, 3) frames: input with annotated keypoints, then one panel per
    variant (mesh + predicted keypoints). ``predictions[variant]`` holds vertices, focal,
    principal and keypoints_2d arrays of the predictions artifact."""
    n, h, w = frames.shape[:3]
    scale = panel_height / h
    size = (max(2, int(round(w * scale)) // 2 * 2), panel_height)
    out = []
    for i in range(n):
        panels = {"input": draw_keypoints(frames[i], annotations_kp[i, :, :2], (255, 255, 255), annotations_kp[i, :, 2] > 0)}
        for variant, pred in predictions.items():
            colour = VARIANT_COLOURS.get(variant, (0.7, 0.7, 0.7))
            img = mesh_overlay(frames[i], pred["vertices"][i], faces, pred["focal"][i], pred["principal"][i], colour)
            panels[variant] = draw_keypoints(img, pred["keypoints_2d"][i], tuple(int(255 * c) for c in colour))
        # captions after resizing, so they stay legible whatever the frame size
        out.append(np.concatenate([label(cv2.resize(img, size, interpolation=cv2.INTER_AREA), name)
                                   for name, img in panels.items()], axis=1))
    return np.stack(out)


def render_sequence_overlays(frames_path: str, annotations_path: str, predictions_paths: dict[str, str],
                             model_spec: str, cfg: dict, out_video: str, out_gif: str, out_meshes: str,
                             mesh_variant: str = "online") -> None:
    """The ``render_overlays`` stage: side-by-side MP4 + GIF and per-frame OBJ meshes."""
    fr = read_artifact(frames_path, "frames", ["frames"])
    kp = read_artifact(annotations_path, "annotations", ["keypoints"])["keypoints"]
    faces = load_model(model_spec).faces.numpy()
    predictions = {v: read_artifact(p, "predictions") for v, p in predictions_paths.items()}
    video = overlay_frames(fr["frames"], kp, predictions, faces, int(cfg.get("panel_height", 240)))
    fps = float(cfg.get("fps", fr["attrs"]["fps"]))
    write_mp4(out_video, video, fps=fps, exact=False)  # to look at; nothing reads it back
    write_gif(out_gif, video, fps=fps, max_side=int(cfg.get("gif_max_side", 640)))
    variant = mesh_variant if mesh_variant in predictions else next(iter(predictions))
    write_obj_sequence(out_meshes, predictions[variant]["vertices"], faces)
