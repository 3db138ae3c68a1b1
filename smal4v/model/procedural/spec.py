"""Reading, merging and hashing the procedural quadruped spec (resources/procedural/*.yaml)."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import yaml

SPEC_DIR = Path(__file__).resolve().parents[3] / "resources" / "procedural"
DEFAULT_SPEC = SPEC_DIR / "quadruped.yaml"
REQUIRED_SECTIONS = ("proportions", "skeleton", "parts", "meshing", "skinning", "shape_space", "families", "pose_prior")

_CODE_FILES = sorted(Path(__file__).resolve().parent.glob("*.py")) + [Path(__file__).resolve().parents[1] / name
                                                                     for name in ("gait.py", "landmarks.py")]


def deep_merge(base: dict, override: dict) -> dict:
    """Copy of ``base`` with ``override`` merged in recursively (dicts merge, other values replace)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_spec(variant: str = "default", path: str | Path = DEFAULT_SPEC) -> dict:
    """The spec dict of ``variant`` ("default" = the file as is; others merge ``variants.<name>``)."""
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"procedural model spec not found: {path}") from None
    except yaml.YAMLError as err:
        raise ValueError(f"procedural model spec {path} is not valid YAML: {err}") from None
    if not isinstance(spec, dict):
        raise ValueError(f"procedural model spec {path}: expected a mapping at the top level")
    variants = spec.pop("variants", {}) or {}
    if variant != "default":
        if variant not in variants:
            raise ValueError(f"procedural model spec {path}: unknown variant {variant!r}; "
                             f"known: {['default', *sorted(variants)]}")
        spec = deep_merge(spec, variants[variant])
    check_spec(spec, str(path))
    return spec


def check_spec(spec: dict, where: str = "spec") -> None:
    """Raise ValueError naming ``where`` and the first missing section or bad proportion entry."""
    for section in REQUIRED_SECTIONS:
        if not isinstance(spec.get(section), dict):
            raise ValueError(f"procedural model {where}: missing section {section!r}")
    for name, entry in spec["proportions"].items():
        if not isinstance(entry, dict) or "mean" not in entry or "range" not in entry:
            raise ValueError(f"procedural model {where}: proportion {name!r} needs 'mean' and 'range'")
        lo, hi = entry["range"]
        if not lo <= entry["mean"] <= hi:
            raise ValueError(f"procedural model {where}: proportion {name!r} mean outside its range")


def spec_hash(spec: dict) -> str:
    """Short stable hash of the spec content and of the builder's source files: the cache key
    (editing either the spec or the code that turns it into a model invalidates the cache)."""
    h = hashlib.sha256(json.dumps(spec, sort_keys=True, default=float).encode())
    for path in _CODE_FILES:
        h.update(path.read_bytes())
    return h.hexdigest()[:16]
