"""A digest of the files that define the body model and the keypoint set.

Rules name the model and the keypoint set (``procedural``, ``badja20``), so Snakemake's params
trigger alone would not notice an edited keypoint YAML, procedural spec or SMAL file. Passing
this digest as a rule param makes such an edit rerun exactly the rules that use them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from smal4v.model import procedural_variant, smal_data_sibling
from smal4v.model.keypoints import keypoint_set_path

__all__ = ["definitions_digest"]


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else f"missing:{path}"


def _model_digest(spec: str) -> str:
    """Content digest of a ``.pkl`` / ``.npz`` model (with its shape-family sibling), or the
    procedural model's spec hash (spec file and builder code)."""
    path = Path(spec)
    if path.suffix.lower() in (".pkl", ".npz"):
        sibling = smal_data_sibling(path) if path.suffix.lower() == ".pkl" else None
        return _file_digest(path) + (_file_digest(sibling) if sibling else "")
    from smal4v.model.procedural.spec import load_spec, spec_hash

    return spec_hash(load_spec(procedural_variant(spec)))


def definitions_digest(model: str, keypoint_set: str) -> str:
    """Short digest of the model ``model`` and the keypoint set ``keypoint_set`` (name or YAML path);
    a missing file enters as its path, so the rule that needs it fails with its own error."""
    try:
        kp = _file_digest(keypoint_set_path(keypoint_set))
    except FileNotFoundError as err:
        kp = f"missing:{err}"
    return hashlib.sha256((_model_digest(str(model)) + kp).encode()).hexdigest()[:16]
