"""A self-contained HTML page that plays a video's mesh sequences in 3D (all variants).

The page inlines everything: the package's own WebGL2 viewer (``viewer.js``, no third-party
code) and the meshes, every frame's vertices quantised to uint16 per axis (error below 1/65535
of each variant's extent) and base64-encoded. Nothing is fetched when it is opened, so it
works inside ``snakemake --report``'s single HTML file and offline.

Size limit: the report shows an HTML result in an iframe whose address is the page itself as a
base64 ``data:`` URL, and Chromium refuses addresses over 2 MiB. A page is therefore kept under
:data:`MAX_PAGE_BYTES`: when every vertex of every frame does not fit, the page shows a
coarser display mesh (a subset of the vertices, by grid clustering, at their exact positions),
down to :data:`MIN_DISPLAY_VERTICES`, and beyond that every k-th frame (played at the same
speed); the page says so. The GLB keeps every vertex of every frame.
"""

from __future__ import annotations

import base64
import html
import json
from importlib import resources
from pathlib import Path

import numpy as np

from smal4v.report.mesh_sequence import MeshSequence

QUANT_LEVELS = 65535
MAX_PAGE_BYTES = 1_500_000
"""Page size limit: as base64 (x 4/3) it stays under Chromium's 2 MiB limit for addresses."""
MIN_DISPLAY_VERTICES = 800
"""Coarsest display mesh before frames are skipped instead."""
_PAGE_OVERHEAD = 40_000
"""Bytes of the page besides the mesh data (script, markup, JSON keys), with margin."""


def cluster_vertices(points: np.ndarray, faces: np.ndarray, n_target: int) -> tuple[np.ndarray, np.ndarray]:
    """A coarser mesh with about ``n_target`` of the vertices: points are binned in a cubic
    grid (cell size found by bisection), the vertex nearest each cell's mean represents it and
    faces are re-indexed onto the representatives (collapsed and repeated faces dropped).
    Returns (kept vertex ids, faces indexing into them)."""
    n_target = max(4, min(int(n_target), len(points)))
    if n_target >= len(points):
        return np.arange(len(points)), faces
    lo, size = points.min(0), float(np.ptp(points, axis=0).max())

    def cells(cell: float) -> np.ndarray:
        return np.unique(np.floor((points - lo) / cell).astype(np.int64), axis=0, return_inverse=True)[1].ravel()

    small, large = size / 2000, size
    for _ in range(40):  # more cells than wanted at `small`, fewer at `large`
        mid = (small * large) ** 0.5
        small, large = (mid, large) if cells(mid).max() + 1 > n_target else (small, mid)
    label = cells(large)
    n_cells = label.max() + 1
    counts = np.bincount(label, minlength=n_cells)
    means = np.stack([np.bincount(label, points[:, k], n_cells) for k in range(3)], 1) / counts[:, None]
    dist = np.linalg.norm(points - means[label], axis=1)
    order = np.lexsort((dist, label))
    first = order[np.r_[True, label[order][1:] != label[order][:-1]]]  # nearest vertex per cell
    remap = np.empty(n_cells, np.int64)
    remap[label[first]] = np.arange(n_cells)
    new_faces = remap[label[faces]]
    keep = (new_faces[:, 0] != new_faces[:, 1]) & (new_faces[:, 1] != new_faces[:, 2]) & (new_faces[:, 0] != new_faces[:, 2])
    new_faces = np.unique(new_faces[keep], axis=0)
    return first, new_faces


def display_plan(n_vertices: int, n_frames: int, n_variants: int,
                 max_bytes: int = MAX_PAGE_BYTES) -> tuple[int, int]:
    """(display vertices, frame step) that keep the page under ``max_bytes``: every vertex and
    frame if they fit, else fewer vertices, else every k-th frame at the coarsest mesh."""
    budget = (max_bytes - _PAGE_OVERHEAD) * 3 // 4  # binary bytes before base64

    def size(v: int, step: int) -> int:
        return -(-n_frames // step) * n_variants * v * 6 + 2 * v * 12  # uint16 xyz + ~2 faces/vertex

    if size(n_vertices, 1) <= budget:
        return n_vertices, 1
    vertices = budget // (n_frames * n_variants * 6 + 24)
    if vertices >= MIN_DISPLAY_VERTICES:
        return int(vertices), 1
    vertices = min(MIN_DISPLAY_VERTICES, n_vertices)
    step = 2
    while size(vertices, step) > budget:
        step += 1
    return vertices, step


def viewer_script() -> str:
    """The viewer's JavaScript, as installed with the package."""
    return resources.files("smal4v.report").joinpath("viewer.js").read_text(encoding="utf-8")


def quantise(vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, V, 3) floats -> uint16 codes, per-axis minimum and step (``x = lo + code * step``)."""
    flat = vertices.reshape(-1, 3).astype(np.float64)
    lo, hi = flat.min(0), flat.max(0)
    step = np.where(hi > lo, (hi - lo) / QUANT_LEVELS, 1.0)
    codes = np.clip(np.round((vertices - lo) / step), 0, QUANT_LEVELS).astype("<u2")
    return codes, lo, step


def dequantise(codes: np.ndarray, lo: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Inverse of :func:`quantise` (what the viewer's vertex shader computes)."""
    return lo + codes.astype(np.float64) * step


def viewer_data(sequence: MeshSequence, colours: dict[str, tuple[float, float, float]], title: str,
                max_bytes: int = MAX_PAGE_BYTES) -> dict:
    """The JSON the viewer reads: faces, frame count/rate and per variant its quantised frames,
    the centre it is shown around (mean over the video) and its scale (1 / extent over the video);
    reduced to the display plan (:func:`display_plan`) when the page would be too large."""
    first = next(iter(sequence.vertices.values()))
    n_display, frame_step = display_plan(first.shape[1], sequence.n_frames, len(sequence.vertices), max_bytes)
    ids, faces = cluster_vertices(first[0], sequence.faces, n_display)
    notes = []
    if len(ids) < first.shape[1]:
        notes.append(f"display mesh: {len(ids)} of {first.shape[1]} vertices")
    if frame_step > 1:
        notes.append(f"one frame in {frame_step}")
    variants = []
    for name, all_verts in sequence.vertices.items():
        verts = all_verts[::frame_step, ids]
        codes, lo, step = quantise(verts)
        extent = float(np.ptp(verts.reshape(-1, 3), axis=0).max())  # all frames: the motion stays in view
        variants.append({
            "name": name,
            "colour": list(colours.get(name, (0.7, 0.7, 0.7))),
            "lo": lo.tolist(),
            "step": step.tolist(),
            "centre": verts.reshape(-1, 3).mean(0).astype(float).tolist(),
            "scale": 1.0 / extent if extent > 0 else 1.0,
            "positions": base64.b64encode(codes.tobytes()).decode("ascii"),
        })
    return {
        "title": title,
        "fps": sequence.fps / frame_step,
        "frames": len(range(0, sequence.n_frames, frame_step)),
        "frame_step": frame_step,
        "video_frames": sequence.n_frames,
        "vertices": int(len(ids)),
        "vertex_ids": base64.b64encode(ids.astype("<u4").tobytes()).decode("ascii"),
        "faces": base64.b64encode(faces.astype("<u4").tobytes()).decode("ascii"),
        "note": "; ".join(notes) + (" (to fit the report; the GLB has every vertex and frame)" if notes else ""),
        "variants": variants,
    }


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
  body {{ font-family: sans-serif; margin: 0.5em; color: #222; }}
  #smal4v-stage {{ position: relative; }}
  #smal4v-canvas {{ width: 100%; display: block; touch-action: none; cursor: grab; }}
  .smal4v-label {{ position: absolute; padding: 2px 6px; background: rgba(0,0,0,0.6); color: #fff; font-size: 13px; }}
  #smal4v-controls {{ display: flex; gap: 0.8em; align-items: center; margin-top: 0.4em; }}
  #smal4v-slider {{ flex: 1; }}
</style>
</head>
<body>
<div><b>{title}</b> &mdash; drag to orbit, wheel to zoom, double click to reset</div>
<div id="smal4v-stage"><canvas id="smal4v-canvas"></canvas><div id="smal4v-labels"></div></div>
<div id="smal4v-controls"><button id="smal4v-play">pause</button><input id="smal4v-slider" type="range" min="0" value="0">
<span id="smal4v-frame"></span></div>
<div id="smal4v-status">{note}</div>
<script type="application/json" id="smal4v-data">{data}</script>
<script>
{script}
</script>
</body>
</html>
"""


def write_viewer_html(path: str | Path, sequence: MeshSequence, colours: dict[str, tuple[float, float, float]],
                      title: str) -> Path:
    """Write the self-contained viewer page of one video's mesh sequences."""
    path = Path(path)
    content = viewer_data(sequence, colours, title)
    data = json.dumps(content, separators=(",", ":")).replace("</", "<\\/")
    page = _PAGE.format(title=html.escape(title), data=data, script=viewer_script(), note=html.escape(content["note"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
