"""The ``densify_silhouettes`` stage: a mask for every frame from the given sparse masks.

Methods are selected by ``cfg["method"]``; each method's own settings sit under its name
(``cfg["flow"]``, ``cfg["osvos"]``, ``cfg["fusion"]``, ``cfg["propagate"]``; ``cfg["segmenter"]``
picks the segmenter ``propagate`` uses as its prior), so the config says what runs and how.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from smal4v.data import artifacts
from smal4v.segment.combine import densify_osvos_flow, method_params
from smal4v.segment.flow import densify_flow
from smal4v.segment.osvos import densify_osvos
from smal4v.segment.propagate import densify_propagate

Densifier = Callable[[np.ndarray, np.ndarray, np.ndarray, Mapping[str, Any]], tuple[np.ndarray, np.ndarray]]
METHODS: dict[str, Densifier] = {"flow": densify_flow, "osvos": densify_osvos, "osvos+flow": densify_osvos_flow,
                                  "propagate": densify_propagate}


def densify_sequence(frames_path: str | Path, annotations_path: str | Path, out_path: str | Path,
                     cfg: Mapping[str, Any], created_by: str = "densify_silhouettes") -> Path:
    """Read frames + given masks, run the configured method, write the silhouettes artifact."""
    method = cfg.get("method", "flow")
    if method not in METHODS:
        raise ValueError(f"silhouettes.method {method!r} is not one of {sorted(METHODS)}")
    frames = artifacts.read_artifact(frames_path, "frames", ["frames"])["frames"]
    ann = artifacts.read_artifact(annotations_path, "annotations", ["masks", "masks_given"])
    if not ann["masks_given"].any():
        raise ValueError(f"{annotations_path}: no annotated mask to densify from; annotate at least one frame's mask")
    masks, probabilities = METHODS[method](frames, ann["masks"], ann["masks_given"], method_params(cfg, method))
    return artifacts.write_artifact(out_path, "silhouettes", {"masks": masks, "probabilities": probabilities},
                                    {"method": method}, created_by)
