"""Keypoint sets: named 2D-annotatable points defined on the model (joints or surface points).

A set is data (``resources/keypoints/<name>.yaml``): for each keypoint its name, the model point
it corresponds to (a joint name such as ``LLeg2`` or a surface point such as ``nose``) and
optionally its index in the source dataset; left/right mirror pairs (giving the flip
permutation used when images are mirrored) and part groups (legs, tail, ears, face) for
per-part metrics.

YAML layout::

    name: badja20
    keypoints:
      - {name: front_left_paw, point: LFoot, source_index: 14}
    mirror_pairs: [[front_left_paw, front_right_paw], ...]
    parts: {legs: [front_left_paw, ...], tail: [...], ears: [...], face: [...]}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:  # torch stays unimported for the annotation importers (2 s per workflow job)
    import torch

    from smal4v.model.animal_model import AnimalModel, ModelOutput

__all__ = ["KeypointSet", "load_keypoint_set", "keypoint_set_path", "KEYPOINT_DIR"]

KEYPOINT_DIR = Path(__file__).resolve().parents[2] / "resources" / "keypoints"
"""Where named keypoint sets live (``<name>.yaml``)."""


@dataclass
class KeypointSet:
    """K keypoints: ``names``, model ``point_names``, ``flip`` permutation, ``parts`` -> indices."""

    name: str
    names: list[str]
    point_names: list[str]
    flip: list[int]
    parts: dict[str, list[int]]
    source_indices: list[int] | None = None
    source: str = ""
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.names)

    def indices(self, model: "AnimalModel") -> torch.Tensor:
        """Long tensor (K,) of positions in ``model.point_names`` (on the model's device)."""
        device = model.faces.device
        key = (tuple(model.point_names), device)
        cached = self._cache.get(key)
        if cached is None:
            ids = []
            for kp, point in zip(self.names, self.point_names):
                if point not in model.point_names:
                    raise KeyError(
                        f"{self.source or self.name}: keypoint {kp!r} needs model point {point!r}, "
                        f"which model {getattr(model, 'source', '')!r} does not have"
                    )
                ids.append(model.point_index(point))
            import torch

            cached = self._cache[key] = torch.as_tensor(ids, dtype=torch.long, device=device)
        return cached

    def select(self, output: "ModelOutput", model: "AnimalModel") -> torch.Tensor:
        """Keypoints (B, K, 3) taken from ``output.points``."""
        return output.points[:, self.indices(model).to(output.points.device)]


def keypoint_set_path(name_or_path: str | Path) -> Path:
    """The YAML file of a keypoint set given by name (in KEYPOINT_DIR) or by path."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise FileNotFoundError(f"keypoint set file not found: {p}")
        return p
    candidate = KEYPOINT_DIR / f"{name_or_path}.yaml"
    if not candidate.is_file():
        known = sorted(f.stem for f in KEYPOINT_DIR.glob("*.yaml"))
        raise FileNotFoundError(f"unknown keypoint set {name_or_path!r}: no {candidate}; known: {', '.join(known)}")
    return candidate


def load_keypoint_set(name_or_path: str | Path) -> KeypointSet:
    """Load a set by name (``badja20``, ``stanford_extra``) or from a YAML path; validates it."""
    path = keypoint_set_path(name_or_path)
    src = str(path)
    with open(path) as fh:
        doc = yaml.safe_load(fh)
    if not isinstance(doc, dict) or "keypoints" not in doc:
        raise ValueError(f"{src}: expected a mapping with a 'keypoints' list")
    entries = doc["keypoints"]
    names, points, sources = [], [], []
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or "name" not in e or "point" not in e:
            raise ValueError(f"{src}: keypoint #{i} needs 'name' and 'point'")
        names.append(str(e["name"]))
        points.append(str(e["point"]))
        sources.append(e.get("source_index"))
    if len(set(names)) != len(names):
        raise ValueError(f"{src}: duplicate keypoint names")
    index = {n: i for i, n in enumerate(names)}

    def idx(n: str, where: str) -> int:
        if n not in index:
            raise KeyError(f"{src}: {where} names unknown keypoint {n!r}")
        return index[n]

    flip = list(range(len(names)))
    for pair in doc.get("mirror_pairs", []) or []:
        if len(pair) != 2:
            raise ValueError(f"{src}: mirror pair {pair!r} must have two names")
        a, b = idx(pair[0], "mirror_pairs"), idx(pair[1], "mirror_pairs")
        if flip[a] != a or flip[b] != b:
            raise ValueError(f"{src}: keypoint in more than one mirror pair: {pair!r}")
        flip[a], flip[b] = b, a
    parts = {str(part): [idx(n, f"part {part!r}") for n in members] for part, members in (doc.get("parts") or {}).items()}
    source_indices = [int(s) for s in sources] if all(s is not None for s in sources) else None
    return KeypointSet(
        name=str(doc.get("name", path.stem)),
        names=names,
        point_names=points,
        flip=flip,
        parts=parts,
        source_indices=source_indices,
        source=src,
    )
