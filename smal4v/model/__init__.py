"""smal4v.model: the SMAL-compatible body model, its sources, keypoint sets and priors.

``load_model(spec)`` is the single entry point: ``"procedural"`` (the embedded default),
a procedural variant name (or ``"procedural:<variant>"``), a path to a licensed SMAL ``.pkl``
or a :class:`ModelData` ``.npz``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from smal4v.model.keypoints import KeypointSet, load_keypoint_set
from smal4v.model.model_data import ModelData

if TYPE_CHECKING:
    import torch

    from smal4v.model.animal_model import AnimalModel, ModelOutput

__all__ = ["AnimalModel", "ModelOutput", "ModelData", "KeypointSet", "load_keypoint_set", "load_model", "load_model_data"]

_SMAL_DATA_PREFIX = ("my_smpl_", "my_smpl_data_")


def __getattr__(name: str) -> Any:
    """``AnimalModel`` and ``ModelOutput`` load torch on first use, so that jobs which only read
    keypoint sets or model data (the annotation importers) skip torch's 2 s import."""
    if name in ("AnimalModel", "ModelOutput"):
        from smal4v.model import animal_model

        return getattr(animal_model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def smal_data_sibling(path: Path) -> Path | None:
    """``my_smpl_data_X.pkl`` next to ``my_smpl_X.pkl`` (shape families), if present."""
    old, new = _SMAL_DATA_PREFIX
    if path.name.startswith(old) and not path.name.startswith(new):
        candidate = path.with_name(new + path.name[len(old):])
        if candidate.is_file():
            return candidate
    return None


def procedural_variant(spec: str) -> str:
    """The procedural variant a non-file model spec names: ``procedural`` -> ``default``,
    ``procedural:<variant>`` or a bare variant name -> that variant."""
    if spec.startswith("procedural:"):
        return spec.split(":", 1)[1]
    return "default" if spec == "procedural" else spec


def load_model_data(spec: str | Path = "procedural") -> ModelData:
    """Resolve ``spec`` (see module docstring) to a :class:`ModelData` without building torch buffers."""
    text = str(spec)
    suffix = Path(text).suffix.lower()
    if suffix in (".pkl", ".npz"):
        path = Path(text)
        if not path.is_file():
            raise FileNotFoundError(f"model file not found: {path}")
        if suffix == ".npz":
            data = ModelData.load_npz(path)
            data.validate()
            return data
        from smal4v.model.smal_pickle import load_smal_pickle

        return load_smal_pickle(path, data_path=smal_data_sibling(path))
    if suffix or "/" in text or "\\" in text:
        raise ValueError(f"model spec {text!r}: a model file must end in .pkl (SMAL) or .npz (ModelData)")
    variant = procedural_variant(text)
    try:
        from smal4v.model.procedural import load_procedural
    except ImportError as exc:
        raise ValueError(f"model spec {text!r}: the procedural model is not available ({exc})") from exc
    return load_procedural(variant)


def load_model(spec: str | Path = "procedural", device: str | torch.device | None = None) -> AnimalModel:
    """Build the :class:`AnimalModel` named by ``spec``, optionally moved to ``device``."""
    from smal4v.model.animal_model import AnimalModel

    model = AnimalModel.from_data(load_model_data(spec))
    return model.to(device) if device is not None else model
