"""Load the licensed SMAL model pickle (METHOD.md 1.1, 1.2, 1.5) into a :class:`ModelData`.

Pickles can execute arbitrary code, so the file is read with a restricted unpickler: only numpy
array reconstruction, scipy.sparse matrices, chumpy objects (mapped to an inert stub whose
state holds the raw array under ``x``) and a few plain data helpers (``set``, ``frozenset``,
``object`` for ``copyreg._reconstructor``, latin1-only ``_codecs.encode`` for protocol-2 bytes)
are allowed; every other global raises :class:`UnsafePickleError` before anything is called.
chumpy itself is not needed.
"""

from __future__ import annotations

import copyreg
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

from smal4v.model.landmarks import add_neck_top
from smal4v.model.model_data import SMAL_JOINT_NAMES, ModelData, PosePrior, ShapeFamily

__all__ = [
    "UnsafePickleError",
    "load_smal_pickle",
    "safe_load_pickle",
    "SMAL_SURFACE_POINTS",
    "SMAL_FAMILY_NAMES",
]

SMAL_SURFACE_POINTS: dict[str, int] = {
    "nose": 1863,
    "chin": 26,
    "right_ear_tip": 2124,
    "left_ear_tip": 150,
    "left_eye": 3055,
    "right_eye": 1097,
}
"""Vertex ids of the surface points WLDO/C2F append to the joints (3889-vertex SMAL mesh)."""

SMAL_NUM_VERTICES = 3889
SMAL_FAMILY_NAMES = ["felidae", "canidae", "equidae", "bovidae", "hippo"]
"""Family index -> name of the 5 clusters in ``my_smpl_data_00781_4_all.pkl`` (from the code)."""


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle referenced a global outside the allow-list (it could run arbitrary code)."""


class ChumpyStub:
    """Inert stand-in for any chumpy class; keeps the pickled state (raw array under ``x``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _resolve(*candidates: tuple[str, str]) -> Any:
    """First attribute ``module.name`` that exists (numpy moved ``core`` to ``_core`` in 2.0)."""
    import importlib

    for module, name in candidates:
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"none of {candidates} is available")


def _safe_reconstructor(cls: type, base: type, state: Any) -> Any:
    """``copyreg._reconstructor`` (protocol 0/1 pickles) limited to already-allowed classes."""
    if base is not object:
        raise UnsafePickleError(f"copyreg._reconstructor with base {base!r} is not allowed")
    return copyreg._reconstructor(cls, base, state)  # type: ignore[attr-defined]


def _safe_codecs_encode(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as Python 3 protocol-2 pickles use it for bytes: str -> latin1 bytes only."""
    if not isinstance(text, str) or encoding.replace("-", "").lower() != "latin1":
        raise UnsafePickleError(f"_codecs.encode({type(text).__name__}, {encoding!r}) is not allowed")
    return text.encode("latin1")


_SAFE_BUILTINS = {"object": object, "set": set, "frozenset": frozenset}
"""Plain data constructors; ``object`` is only the base of copyreg._reconstructor and the sets
appear in chumpy objects' state. Nothing else from builtins (eval, getattr, __import__...)."""

_NUMPY_FUNCS = {
    "_reconstruct": (("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct")),
    "scalar": (("numpy._core.multiarray", "scalar"), ("numpy.core.multiarray", "scalar")),
    "_frombuffer": (("numpy._core.numeric", "_frombuffer"), ("numpy.core.numeric", "_frombuffer")),
}
_NUMPY_MODULES = {"numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric", "numpy._core.numeric"}
_SPARSE_CLASSES = {"csc_matrix", "csr_matrix", "coo_matrix"}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler whose ``find_class`` only returns allow-listed, side-effect-free globals."""

    def __init__(self, file: Any, source: str) -> None:
        super().__init__(file, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        if module == "chumpy" or module.startswith("chumpy."):
            return ChumpyStub
        if module in _NUMPY_MODULES and name in _NUMPY_FUNCS:
            return _resolve(*_NUMPY_FUNCS[name])
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if module.startswith("numpy") and module.endswith("dtypes") and name.endswith("DType"):
            return getattr(np.dtypes, name)  # numpy >= 1.25 pickles dtype instances by class
        if (module == "scipy.sparse" or module.startswith("scipy.sparse.")) and name in _SPARSE_CLASSES:
            return getattr(scipy.sparse, name)
        if module in ("copy_reg", "copyreg") and name == "_reconstructor":
            return _safe_reconstructor
        if module in ("__builtin__", "builtins") and name in _SAFE_BUILTINS:
            return _SAFE_BUILTINS[name]
        if module == "_codecs" and name == "encode":
            return _safe_codecs_encode
        raise UnsafePickleError(f"{self.source}: refusing to load global {module}.{name} (not on the allow-list)")


def _to_array(obj: Any, source: str, key: str) -> Any:
    """Replace chumpy stubs by their raw ndarray, recursively through lists / tuples / dicts."""
    if isinstance(obj, ChumpyStub):
        state = obj.state
        if not isinstance(state, dict) or "x" not in state:
            raise ValueError(
                f"{source}: key {key!r} is a chumpy expression without a stored array 'x'; "
                "only plain chumpy Ch values can be read without chumpy"
            )
        return _to_array(state["x"], source, key)
    if isinstance(obj, dict):
        return {k: _to_array(v, source, f"{key}.{k}" if key else str(k)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_array(v, source, f"{key}[{i}]") for i, v in enumerate(obj))
    return obj


def safe_load_pickle(path: str | Path) -> Any:
    """Unpickle ``path`` with the restricted unpickler (latin1), chumpy values turned into arrays."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pickle file not found: {path}")
    with open(path, "rb") as fh:
        try:
            obj = _RestrictedUnpickler(fh, str(path)).load()
        except UnsafePickleError:
            raise
        except Exception as exc:  # truncated or not a pickle at all
            raise ValueError(f"{path}: cannot unpickle ({type(exc).__name__}: {exc})") from exc
    return _to_array(obj, str(path), "")


def _get(d: dict, key: str, source: str) -> Any:
    if not isinstance(d, dict):
        raise ValueError(f"{source}: expected a dict at top level, got {type(d).__name__}")
    if key not in d:
        raise KeyError(f"{source}: missing key {key!r} (has: {', '.join(map(str, d.keys()))})")
    return d[key]


def _dense(value: Any, source: str, key: str) -> np.ndarray:
    if scipy.sparse.issparse(value):
        value = value.toarray()
    try:
        arr = np.asarray(value)
    except Exception as exc:
        raise ValueError(f"{source}: key {key!r} is not an array ({type(value).__name__})") from exc
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{source}: key {key!r} is not a numeric array (dtype {arr.dtype})")
    return arr


def _basis(value: Any, V: int, source: str, key: str) -> np.ndarray:
    """(V, 3, K) or (V*3, K) SMPL-style blend basis -> (K, V, 3)."""
    arr = _dense(value, source, key).astype(np.float64)
    if arr.ndim == 3 and arr.shape[:2] == (V, 3):
        return np.ascontiguousarray(arr.transpose(2, 0, 1))
    if arr.ndim == 2 and arr.shape[0] == V * 3:
        return np.ascontiguousarray(arr.reshape(V, 3, -1).transpose(2, 0, 1))
    raise ValueError(f"{source}: key {key!r} has shape {arr.shape}, expected ({V}, 3, K)")


def load_smal_pickle(
    path: str | Path, data_path: str | Path | None = None, pose_prior_path: str | Path | None = None
) -> ModelData:
    """Read a SMAL model pickle (e.g. ``my_smpl_00781_4_all.pkl``) as :class:`ModelData`.

    ``data_path`` optionally names the shape-family file (``my_smpl_data_00781_4_all.pkl``):
    its ``cluster_means`` / ``cluster_cov`` become :class:`ShapeFamily` entries named
    felidae, canidae, equidae, bovidae, hippo. ``pose_prior_path`` optionally names the walking
    pose prior (``mean_pose``, ``pic`` = chol(inv(cov))); its joint limits are left unbounded.
    """
    src = str(path)
    d = safe_load_pickle(path)
    v_template = _dense(_get(d, "v_template", src), src, "v_template").astype(np.float64)
    if v_template.ndim != 2 or v_template.shape[1] != 3:
        raise ValueError(f"{src}: key 'v_template' has shape {v_template.shape}, expected (V, 3)")
    V = v_template.shape[0]
    faces = _dense(_get(d, "f", src), src, "f").astype(np.int64)
    shapedirs = _basis(_get(d, "shapedirs", src), V, src, "shapedirs")
    kintree = _dense(_get(d, "kintree_table", src), src, "kintree_table").astype(np.int64)
    if kintree.ndim != 2 or kintree.shape[0] != 2:
        raise ValueError(f"{src}: key 'kintree_table' has shape {kintree.shape}, expected (2, J)")
    J = kintree.shape[1]
    if J > len(SMAL_JOINT_NAMES):
        raise ValueError(f"{src}: {J} joints, SMAL names only {len(SMAL_JOINT_NAMES)}")
    parents = kintree[0].copy()
    parents[0] = -1  # stored as 2**32 - 1 in the SMPL-style files
    posedirs = _basis(_get(d, "posedirs", src), V, src, "posedirs")
    if posedirs.shape[0] != (J - 1) * 9:
        raise ValueError(f"{src}: key 'posedirs' has {posedirs.shape[0]} components, expected {(J - 1) * 9}")
    J_regressor = _dense(_get(d, "J_regressor", src), src, "J_regressor").astype(np.float64)
    if J_regressor.shape == (V, J):
        J_regressor = J_regressor.T
    weights = _dense(_get(d, "weights", src), src, "weights").astype(np.float64)
    surface = dict(SMAL_SURFACE_POINTS) if V == SMAL_NUM_VERTICES else {}
    if J > SMAL_JOINT_NAMES.index("Neck"):
        surface = add_neck_top(surface, v_template, J_regressor[SMAL_JOINT_NAMES.index("Neck")] @ v_template)
    data = ModelData(
        v_template=v_template,
        shapedirs=shapedirs,
        posedirs=posedirs,
        J_regressor=np.ascontiguousarray(J_regressor),
        weights=weights,
        parents=parents,
        faces=faces,
        joint_names=list(SMAL_JOINT_NAMES[:J]),
        surface_points=surface,
        source=src,
    )
    data.validate()
    if data_path is not None:
        data.shape_families = load_smal_families(data_path, data.num_betas)
    if pose_prior_path is not None:
        data.pose_prior = load_smal_pose_prior(pose_prior_path, J)
    return data


def load_smal_families(path: str | Path, num_betas: int) -> list[ShapeFamily]:
    """Shape families from ``my_smpl_data_00781_4_all.pkl`` (5 clusters, rank-deficient covs)."""
    src = str(path)
    d = safe_load_pickle(path)
    means = _dense(_get(d, "cluster_means", src), src, "cluster_means").astype(np.float64)
    covs_raw = _get(d, "cluster_cov", src)
    if means.ndim != 2 or means.shape[1] != num_betas:
        raise ValueError(f"{src}: key 'cluster_means' has shape {means.shape}, expected (n, {num_betas})")
    if len(covs_raw) != means.shape[0]:
        raise ValueError(f"{src}: {len(covs_raw)} 'cluster_cov' entries for {means.shape[0]} means")
    families = []
    for i, (mean, cov) in enumerate(zip(means, covs_raw)):
        cov = _dense(cov, src, f"cluster_cov[{i}]").astype(np.float64)
        if cov.shape != (num_betas, num_betas):
            raise ValueError(f"{src}: key 'cluster_cov[{i}]' has shape {cov.shape}, expected ({num_betas}, {num_betas})")
        name = SMAL_FAMILY_NAMES[i] if i < len(SMAL_FAMILY_NAMES) else f"family{i}"
        families.append(ShapeFamily(name, mean, cov))
    return families


def load_smal_pose_prior(path: str | Path, num_joints: int) -> PosePrior:
    """Walking pose prior (``mean_pose`` (J*3,), ``pic`` lower-triangular chol(inv(cov)))."""
    src = str(path)
    d = safe_load_pickle(path)
    mean = _dense(_get(d, "mean_pose", src), src, "mean_pose").astype(np.float64).reshape(-1)
    pic = _dense(_get(d, "pic", src), src, "pic").astype(np.float64)
    if mean.shape != (num_joints * 3,) or pic.shape != (num_joints * 3, num_joints * 3):
        raise ValueError(f"{src}: mean_pose {mean.shape} / pic {pic.shape} do not match {num_joints} joints")
    limits = np.stack([np.full((num_joints, 3), -np.inf), np.full((num_joints, 3), np.inf)], axis=-1)
    return PosePrior(mean=mean, precision_chol=pic, limits=limits)
