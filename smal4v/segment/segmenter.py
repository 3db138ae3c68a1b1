"""Pluggable segmenters: the per-frame foreground prior of the ``propagate`` method.

Protocol (``docs/DENSIFY.md``): a segmenter is a class built as ``Class(weights, **options)``
(``weights``: a local file path or None; nothing may be downloaded) with one method

    segment(frames (N, H, W, 3) uint8 RGB, masks (N, H, W) bool, given (N,) bool)
        -> probabilities (N, H, W) float in [0, 1]

that may use the given masks (fine-tune on them, or use them as a video model's memory) and
returns a foreground probability for every frame. Config ``silhouettes.segmenter``:
``{module: "package.module:ClassName" or "path/to/file.py:ClassName", weights: path,
options: {...}}``; ``module: null`` (the default) is the built-in OSVOS segmenter, configured
by ``silhouettes.osvos`` (its parent model is filled in by the workflow).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Segmenter(Protocol):
    """What :func:`load_segmenter` returns (see the module docstring)."""

    def segment(self, frames: np.ndarray, masks: np.ndarray, given: np.ndarray) -> np.ndarray: ...


class OsvosSegmenter:
    """The built-in segmenter: OSVOS fine-tuned on the given masks (``weights``: its parent)."""

    def __init__(self, weights: str | None = None, **options: Any):
        from smal4v.segment.osvos import OsvosParams

        if weights is not None:
            options = {**options, "parent": weights}
        self.params = OsvosParams.from_any(options)

    def segment(self, frames: np.ndarray, masks: np.ndarray, given: np.ndarray) -> np.ndarray:
        from smal4v.segment.osvos import osvos_probabilities
        from smal4v.train.loop import seed_everything

        seed_everything(self.params.seed, deterministic=False)
        return osvos_probabilities(frames, masks, given, self.params)


def import_class(spec: str) -> type:
    """The class named by ``"package.module:ClassName"`` or ``"path/to/file.py:ClassName"``."""
    if ":" not in spec:
        raise ValueError(f"silhouettes.segmenter.module {spec!r} must be 'package.module:ClassName' or 'file.py:ClassName'")
    where, name = spec.rsplit(":", 1)
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise FileNotFoundError(f"silhouettes.segmenter.module: file {path} does not exist")
        loader = importlib.util.spec_from_file_location(f"smal4v_user_segmenter_{path.stem}", path)
        module = importlib.util.module_from_spec(loader)
        loader.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    if not hasattr(module, name):
        raise ValueError(f"silhouettes.segmenter.module: {where} has no attribute {name!r}")
    return getattr(module, name)


def load_segmenter(spec: Mapping[str, Any] | None, osvos: Mapping[str, Any] | None = None) -> Segmenter:
    """Build the configured segmenter: ``spec`` = ``{module, weights, options}`` (None or
    ``module: null``: :class:`OsvosSegmenter` from the ``osvos`` settings). A ``weights``
    path must be an existing local file."""
    spec = dict(spec or {})
    unknown = sorted(set(spec) - {"module", "weights", "options"})
    if unknown:
        raise ValueError(f"silhouettes.segmenter: unknown keys {unknown}; known: module, weights, options")
    weights = spec.get("weights")
    if weights is not None and not Path(weights).is_file():
        raise FileNotFoundError(f"silhouettes.segmenter.weights: {weights} is not a file (weights are never downloaded)")
    if not spec.get("module"):
        return OsvosSegmenter(weights, **dict(osvos or {}))
    segmenter = import_class(str(spec["module"]))(weights, **dict(spec.get("options") or {}))
    if not isinstance(segmenter, Segmenter):
        raise TypeError(f"silhouettes.segmenter.module {spec['module']}: the object has no segment(frames, masks, given) method")
    return segmenter


def needs_osvos_parent(silhouettes: Mapping[str, Any]) -> bool:
    """Whether the ``silhouettes`` config runs the built-in OSVOS (so the workflow must train
    its parent): ``osvos``, ``osvos+flow``, and ``propagate`` with a prior but no plugged-in segmenter."""
    from smal4v.segment.propagate import PropagateParams

    method = silhouettes.get("method", "propagate")
    if method != "propagate":
        return method != "flow"
    prior = PropagateParams.from_any(silhouettes.get("propagate")).prior_weight > 0
    return prior and not (silhouettes.get("segmenter") or {}).get("module")


def check_probabilities(prob: np.ndarray, shape: tuple[int, int, int], who: str) -> np.ndarray:
    """A segmenter's output as float32 (N, H, W) in [0, 1]; errors name the segmenter."""
    prob = np.asarray(prob, dtype=np.float32)
    if prob.shape != shape:
        raise ValueError(f"segmenter {who} returned probabilities of shape {prob.shape}, expected {shape}")
    if not np.isfinite(prob).all() or prob.min() < 0 or prob.max() > 1:
        raise ValueError(f"segmenter {who} returned values outside [0, 1]")
    return prob
