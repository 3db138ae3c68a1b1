"""Side-by-side overlay videos: the input frame next to each variant's mesh and keypoints."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from smal4v.render import Camera, ShadedRenderer

VARIANT_COLOURS = {
    "base": (0.85, 0.45, 0.30),
    "parent": (0.95, 0.75, 0.25),
    "online_single": (0.55, 0.80, 0.40),
    "online": (0.0, 172 / 255, 223 / 255),
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
    colours = np.broadcast_to(np.asarray(colour, dtype=np.float32), (len(vertices), 3))
    result = ShadedRenderer((h, w)).render(torch.as_tensor(vertices, dtype=torch.float32), faces, camera,
                                           vertex_colors=colours)
    out = frame.astype(np.float32)
    m = result.mask[..., None]
    out = np.where(m, (1 - alpha) * out + alpha * result.image.astype(np.float32), out)
    return out.astype(np.uint8)


def label(image: np.ndarray, text: str) -> np.ndarray:
    """Write a small white caption with a dark outline in the top-left corner."""
    out = image.copy()
    scale = max(0.35, image.shape[0] / 600)
    for colour, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(out, text, (6, int(18 * scale / 0.5)), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA)
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
        panels = [label(draw_keypoints(frames[i], annotations_kp[i, :, :2], (255, 255, 255),
                                       annotations_kp[i, :, 2] > 0), "input")]
        for variant, pred in predictions.items():
            colour = VARIANT_COLOURS.get(variant, (0.7, 0.7, 0.7))
            img = mesh_overlay(frames[i], pred["vertices"][i], faces, pred["focal"][i], pred["principal"][i], colour)
            img = draw_keypoints(img, pred["keypoints_2d"][i], tuple(int(255 * c) for c in colour))
            panels.append(label(img, variant))
        out.append(np.concatenate([cv2.resize(p, size, interpolation=cv2.INTER_AREA) for p in panels], axis=1))
    return np.stack(out)
