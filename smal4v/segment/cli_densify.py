"""``smal4v densify FRAMES_DIR MASKS_DIR OUT_DIR``: densification outside the workflow.

FRAMES_DIR holds the frames (any image format, natural order); MASKS_DIR holds PNG masks
(0 = background, > 127 = animal) for some of them, with the same file stems. One PNG mask per
frame (0/255) is written to OUT_DIR under the frame's stem.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from smal4v.data.video import read_frame_folder


def read_mask_folder(masks_dir: str | Path, names: list[str], size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Masks (N, H, W) bool and ``given`` (N,) for frames ``names`` of size (H, W) from the PNGs
    of ``masks_dir``; errors name the file (unknown stem, unreadable, wrong size) or the folder."""
    folder = Path(masks_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"mask folder {folder} does not exist")
    index = {n: i for i, n in enumerate(names)}
    masks = np.zeros((len(names), *size), bool)
    given = np.zeros(len(names), bool)
    for path in sorted(folder.glob("*.png")):
        if path.stem not in index:
            raise ValueError(f"mask {path}: no frame named {path.stem!r} in the frame folder")
        m = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if m is None:
            raise ValueError(f"mask {path} cannot be read as an image")
        if m.shape != size:
            raise ValueError(f"mask {path} is {m.shape[1]}x{m.shape[0]} but the frames are {size[1]}x{size[0]}")
        masks[index[path.stem]] = m > 127
        given[index[path.stem]] = True
    if not given.any():
        raise ValueError(f"mask folder {folder} holds no PNG mask named like a frame; annotate at least one frame")
    return masks, given


def _settings(a: argparse.Namespace) -> dict[str, Any]:
    """The ``silhouettes`` settings: --config YAML (``silhouettes:`` subtree or its sections
    at top level) overridden by the command-line options."""
    cfg: dict[str, Any] = {}
    if a.config:
        import yaml

        path = Path(a.config)
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
        data = yaml.safe_load(path.read_text()) or {}
        cfg = dict(data.get("silhouettes", data))
    osvos = dict(cfg.get("osvos") or {})
    for key, value in (("parent", a.parent), ("iterations", a.iterations), ("work_max_side", a.work_max_side),
                       ("threads", a.threads), ("seed", a.seed)):
        if value is not None:
            osvos[key] = value
    flow = dict(cfg.get("flow") or {})
    propagate = dict(cfg.get("propagate") or {})
    if a.no_progress:
        osvos["progress"] = flow["progress"] = propagate["progress"] = False
    if a.prior_weight is not None:
        propagate["prior_weight"] = a.prior_weight
    segmenter = dict(cfg.get("segmenter") or {})
    if a.segmenter:
        segmenter["module"] = a.segmenter
    if a.segmenter_weights:
        segmenter["weights"] = a.segmenter_weights
    return {**cfg, "osvos": osvos, "flow": flow, "propagate": propagate, "segmenter": segmenter}


def run_densify(a: argparse.Namespace) -> int:
    """Handler of ``smal4v densify``."""
    from smal4v.segment.densify import densifier, method_params

    video = read_frame_folder(a.frames_dir)
    masks, given = read_mask_folder(a.masks_dir, video.names, video.frames.shape[1:3])
    cfg = _settings(a)
    method = a.method or cfg.get("method", "propagate")
    densify = densifier(method, "--method")
    if method != "flow" and not cfg["osvos"].get("parent") and not cfg["segmenter"].get("module"):
        print("smal4v densify: no --parent given; fine-tuning OSVOS from random weights (less accurate)")
    out, probs = densify(video.frames, masks, given, method_params(cfg, method))
    out_dir = Path(a.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, m in zip(video.names, out):
        cv2.imwrite(str(out_dir / f"{name}.png"), m.astype(np.uint8) * 255)
    if a.probabilities:
        prob_dir = Path(a.probabilities)
        prob_dir.mkdir(parents=True, exist_ok=True)
        for name, p in zip(video.names, probs):
            cv2.imwrite(str(prob_dir / f"{name}.png"), p)
    print(f"smal4v densify: {len(out)} masks ({int(given.sum())} given, method {method}) written to {out_dir}")
    return 0


def add_densify_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``densify`` to the ``smal4v`` sub-command parsers (handler in ``handler`` default)."""
    p = subparsers.add_parser("densify", help="a mask for every frame from masks of a few frames",
                              description=__doc__.splitlines()[0])
    p.add_argument("frames_dir", help="folder of frames")
    p.add_argument("masks_dir", help="folder of PNG masks for some frames (same file stems)")
    p.add_argument("out_dir", help="output folder: one PNG mask per frame")
    p.add_argument("--method", choices=["propagate", "osvos", "flow", "osvos+flow"], default=None,
                   help="densification method (default: config's, else propagate)")
    p.add_argument("--parent", help="OSVOS parent model (from train_osvos_parent); without it OSVOS "
                   "starts from random weights")
    p.add_argument("--config", help="YAML with a 'silhouettes:' subtree (sections propagate, segmenter, osvos, "
                   "flow, fusion)")
    p.add_argument("--segmenter", help="propagate's segmenter class, 'package.module:ClassName' or "
                   "'file.py:ClassName' (default: built-in OSVOS)")
    p.add_argument("--segmenter-weights", help="local weights file for --segmenter")
    p.add_argument("--prior-weight", type=float, help="propagate: weight of the segmenter's log-odds (0: none)")
    p.add_argument("--iterations", type=int, help="OSVOS fine-tuning steps")
    p.add_argument("--work-max-side", type=int, help="OSVOS working resolution (longer side, px)")
    p.add_argument("--threads", type=int, help="torch threads")
    p.add_argument("--seed", type=int)
    p.add_argument("--probabilities", help="also write foreground probabilities (0-255 PNGs) here")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=run_densify)
    return p
