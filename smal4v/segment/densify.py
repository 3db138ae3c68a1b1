"""The ``densify_silhouettes`` stage: a mask for every frame from the given sparse masks.

Methods are selected by ``cfg["method"]``; each method's own settings sit under its name
(``cfg["flow"]``, ``cfg["osvos"]``, ``cfg["fusion"]``, ``cfg["propagate"]``; ``cfg["segmenter"]``
picks the segmenter ``propagate`` uses as its prior), so the config says what runs and how.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from smal4v.data import artifacts

Densifier = Callable[[np.ndarray, np.ndarray, np.ndarray, Mapping[str, Any]], tuple[np.ndarray, np.ndarray]]
METHODS: dict[str, str] = {"flow": "smal4v.segment.flow:densify_flow", "osvos": "smal4v.segment.osvos:densify_osvos",
                           "osvos+flow": "smal4v.segment.combine:densify_osvos_flow",
                           "propagate": "smal4v.segment.propagate:densify_propagate"}
"""Method name -> ``module:function``, imported when used: only the OSVOS methods need torch
(a 2 s import in every densification job otherwise)."""


def densifier(method: str, setting: str = "silhouettes.method") -> Densifier:
    """The function of densification method ``method``; ValueError naming ``setting`` (where the
    name came from) and the known methods."""
    if method not in METHODS:
        raise ValueError(f"{setting} {method!r} is not one of {sorted(METHODS)}")
    module, function = METHODS[method].split(":")
    return getattr(importlib.import_module(module), function)


def method_params(cfg: Mapping[str, Any], method: str) -> dict[str, Any]:
    """The params a densification method takes, from the ``silhouettes`` config subtree:
    ``cfg["flow"]`` for ``flow``; ``{"propagate", "segmenter", "osvos"}`` for ``propagate``;
    ``{"osvos", "flow", "fusion"}`` sections for the OSVOS methods."""
    if method == "flow":
        return dict(cfg.get("flow") or {})
    if method == "propagate":
        return {k: dict(cfg.get(k) or {}) for k in ("propagate", "segmenter", "osvos")}
    return {k: dict(cfg.get(k) or {}) for k in ("osvos", "flow", "fusion")}


def densify_sequence(frames_path: str | Path, annotations_path: str | Path, out_path: str | Path,
                     cfg: Mapping[str, Any], created_by: str = "densify_silhouettes") -> Path:
    """Read frames + given masks, run the configured method, write the silhouettes artifact."""
    method = cfg.get("method", "flow")
    densify = densifier(method)
    frames = artifacts.read_artifact(frames_path, "frames", ["frames"])["frames"]
    ann = artifacts.read_artifact(annotations_path, "annotations", ["masks", "masks_given"])
    if not ann["masks_given"].any():
        raise ValueError(f"{annotations_path}: no annotated mask to densify from; annotate at least one frame's mask")
    masks, probabilities = densify(frames, ann["masks"], ann["masks_given"], method_params(cfg, method))
    return artifacts.write_artifact(out_path, "silhouettes", {"masks": masks, "probabilities": probabilities},
                                    {"method": method}, created_by)
