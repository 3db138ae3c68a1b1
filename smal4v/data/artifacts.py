"""HDF5 artifact schema: one file per (sequence, stage), validated on write and on read.

Every stage of the workflow exchanges data through these files. The schema below is the single
source of truth for dataset names, dtypes, shapes (symbolic dims), units and required attrs:

* symbolic dims: ``N`` frames, ``H``/``W`` original frame height/width, ``S`` crop side,
  ``K`` keypoints, ``V`` vertices, ``J`` joints, ``NB`` shape coefficients, ``D`` feature size;
  integers are fixed sizes. A symbol must take one value across all datasets of a file.
* pixels follow the package convention: ``(x, y)``, x right, y down, pixel centres at +0.5.
* writes go to ``<path>.tmp-<pid>`` and are renamed into place, so an interrupted stage never
  leaves a readable half file; readers raise :class:`ArtifactError` naming the file.

Floating datasets accept any float input and are stored in the schema dtype; all other dtypes
must match exactly (a uint8 mask where bool is expected is a bug worth failing on).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

SCHEMA_VERSION = 1


class ArtifactError(RuntimeError):
    """An artifact file is missing, unreadable or does not match the schema."""


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of an artifact kind."""

    name: str
    dtype: str  # numpy dtype name: "uint8", "float32", "bool", ...
    shape: tuple[str | int, ...]  # symbolic dims (see module docstring) or fixed ints
    units: str
    doc: str
    required: bool = True
    image: bool = False  # image-like: chunked per frame and compressed


@dataclass(frozen=True)
class AttrSpec:
    """One file-level attribute of an artifact kind."""

    name: str
    type: str  # "float", "str", "str_list" (a list of strings, length given by ``length``)
    doc: str
    length: str | None = None  # symbolic length for str_list (e.g. "N", "K")
    required: bool = True


@dataclass(frozen=True)
class KindSpec:
    """An artifact kind: its datasets and attributes."""

    name: str
    doc: str
    datasets: tuple[DatasetSpec, ...]
    attrs: tuple[AttrSpec, ...] = ()

    def dataset(self, name: str) -> DatasetSpec:
        for spec in self.datasets:
            if spec.name == name:
                return spec
        raise KeyError(name)


_D = DatasetSpec
_A = AttrSpec

SCHEMA: dict[str, KindSpec] = {
    k.name: k
    for k in (
        KindSpec(
            "frames",
            "Decoded video frames and the square crops that follow the animal.",
            (
                _D("frames", "uint8", ("N", "H", "W", 3), "RGB 0-255", "original frames", image=True),
                _D("crops", "uint8", ("N", "S", "S", 3), "RGB 0-255",
                   "square crops resized to S (black padding outside the frame)", image=True),
                _D("crop_boxes", "float32", ("N", 3), "original px",
                   "crop window [x0, y0, side]; crop pixel c maps to original x0 + c*side/S"),
                _D("bboxes", "float32", ("N", 4), "original px",
                   "animal box [x, y, w, h] the crop was built from; NaN where unknown"),
            ),
            (
                _A("fps", "float", "frames per second"),
                _A("source", "str", "video file or frame folder the frames came from"),
                _A("frame_names", "str_list", "name of each frame (file stem or index)", "N"),
            ),
        ),
        KindSpec(
            "annotations",
            "Sparse user annotations (keypoints and masks on a few frames).",
            (
                _D("keypoints", "float32", ("N", "K", 3), "original px",
                   "[x, y, visible]; visible 0 where not annotated"),
                _D("keypoint_split", "uint8", ("N",), "enum",
                   "0 = no keypoints, 1 = train, 2 = held out for evaluation"),
                _D("masks", "bool", ("N", "H", "W"), "bool", "given masks (False where not given)",
                   image=True),
                _D("masks_given", "bool", ("N",), "bool", "whether frame n has a given mask"),
            ),
            (
                _A("keypoint_set", "str", "keypoint set name (resources/keypoints/<name>.yaml)"),
                _A("keypoint_names", "str_list", "name of each keypoint", "K"),
            ),
        ),
        KindSpec(
            "ground_truth",
            "Ground truth for evaluation (dense for synthetic data).",
            (
                _D("masks", "bool", ("N", "H", "W"), "bool", "true silhouettes", image=True),
                _D("has_mask", "bool", ("N",), "bool", "whether masks[n] is known"),
                _D("keypoints", "float32", ("N", "K", 3), "original px", "[x, y, visible]"),
                _D("vertices", "float32", ("N", "V", 3), "model units, camera frame",
                   "true mesh vertices", required=False),
                _D("joints", "float32", ("N", "J", 3), "model units, camera frame",
                   "true joint positions", required=False),
                _D("betas", "float32", ("N", "NB"), "coefficients", "true shape", required=False),
                _D("pose", "float32", ("N", "J", 3), "axis-angle rad", "true pose (joint 0 = root)",
                   required=False),
                _D("trans", "float32", ("N", 3), "model units", "true translation", required=False),
                _D("focal", "float32", ("N",), "full-frame px", "true focal length", required=False),
                _D("delta_v", "float32", ("V", 3), "model units", "off-model vertex offsets added to the shaped "
                   "template before posing (synthetic off_model)", required=False),
            ),
            (
                _A("family", "str", "shape family name", required=False),
                _A("keypoint_names", "str_list", "name of each keypoint", "K", required=False),
            ),
        ),
        KindSpec(
            "image_set",
            "One split of an image dataset (StanfordExtra, Animal Pose, ...): square crops of the "
            "images with keypoints and masks in crop pixels (smal4v/data/image_dataset.py).",
            (
                _D("crops", "uint8", ("N", "S", "S", 3), "RGB 0-255",
                   "square crops around the animal box (black padding outside the image)", image=True),
                _D("keypoints", "float32", ("N", "K", 3), "crop px", "[x, y, visible]; visible 0 where not annotated"),
                _D("masks", "bool", ("N", "S", "S"), "bool", "GT silhouettes (False where has_mask is False)",
                   image=True),
                _D("has_mask", "bool", ("N",), "bool", "whether the image has a segmentation"),
                _D("in_image", "bool", ("N", "S", "S"), "bool", "crop pixels inside the image (False = padding)",
                   image=True),
                _D("crop_boxes", "float32", ("N", 3), "original px", "crop window [x0, y0, side] in the image"),
            ),
            (
                _A("keypoint_set", "str", "keypoint set name (resources/keypoints/<name>.yaml)"),
                _A("keypoint_names", "str_list", "name of each keypoint", "K"),
                _A("image_names", "str_list", "image of each row (path relative to the dataset)", "N"),
                _A("source", "str", "dataset file(s) the set was read from"),
            ),
        ),
        KindSpec(
            "silhouettes",
            "A silhouette for every frame (densified from the sparse masks).",
            (
                _D("masks", "bool", ("N", "H", "W"), "bool", "binary silhouettes", image=True),
                _D("probabilities", "uint8", ("N", "H", "W"), "0-255 = 0-1",
                   "foreground probability", image=True),
            ),
            (_A("method", "str", "densification method (flow, osvos, given)"),),
        ),
        KindSpec(
            "generic_images",
            "One shard of the base network's generic training set: synthetic crops rendered in the "
            "crop camera with exact 3D truth (smal4v/data/generic_images.py).",
            (
                _D("images", "uint8", ("N", "S", "S", 3), "RGB 0-255", "rendered crops", image=True),
                _D("masks", "bool", ("N", "S", "S"), "bool", "true silhouettes", image=True),
                _D("keypoints", "float32", ("N", "K", 3), "crop px", "[x, y, visible]"),
                _D("betas", "float32", ("N", "NB"), "coefficients", "true shape"),
                _D("pose", "float32", ("N", "J", 3), "axis-angle rad", "true pose in the crop camera (joint 0 = root)"),
                _D("trans", "float32", ("N", 3), "model units", "true translation (crop camera)"),
                _D("focal", "float32", ("N",), "crop px", "true focal length (principal point at the crop centre)"),
                _D("delta_v", "float16", ("N", "V", 3), "model units", "each animal's off-model vertex offsets, "
                   "added to the shaped template before posing (generic_images.off_model)", required=False),
            ),
            (_A("keypoint_names", "str_list", "name of each keypoint", "K"),),
        ),
        KindSpec(
            "features",
            "Frozen per-frame encoder features.",
            (
                _D("features", "float32", ("N", "D"), "unitless", "encoder output per frame"),
                _D("detections", "float32", ("N", "K", 3), "crop px", "the parent's keypoint-head detections "
                   "[x, y, probability seen] (network.keypoint_head)", required=False),
            ),
            (_A("encoder", "str", "encoder name / checkpoint"),),
        ),
        KindSpec(
            "predictions",
            "Per-frame model predictions of one network variant.",
            (
                _D("keypoints_2d", "float32", ("N", "K", 2), "original px", "projected keypoints"),
                _D("betas", "float32", ("N", "NB"), "coefficients", "shape"),
                _D("pose", "float32", ("N", "J", 3), "axis-angle rad", "pose (joint 0 = root)"),
                _D("trans", "float32", ("N", 3), "model units", "translation (camera frame)"),
                _D("focal", "float32", ("N",), "full-frame px", "focal length"),
                _D("principal", "float32", ("N", 2), "full-frame px", "principal point (x, y)"),
                _D("silhouettes", "bool", ("N", "H", "W"), "bool", "rendered silhouettes",
                   required=False, image=True),
                _D("vertices", "float32", ("N", "V", 3), "model units, camera frame",
                   "posed vertices (including any refinement offsets)", required=False),
                _D("joints", "float32", ("N", "J", 3), "model units, camera frame",
                   "posed joints", required=False),
                _D("limb_scale", "float32", ("N", 6), "factor", "limb scales", required=False),
                _D("delta_v", "float32", ("V", 3), "model units", "per-video vertex offsets added to the shaped "
                   "template before posing (variant refined)", required=False),
            ),
            (
                _A("variant", "str", "network variant (base, parent, online, refined, ...)"),
                _A("keypoint_names", "str_list", "name of each keypoint", "K"),
            ),
        ),
    )
}


def config_hash(obj: Any) -> str:
    """Stable sha1 hex digest of a JSON-serialisable config subtree (key order ignored)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _kind(kind: str) -> KindSpec:
    try:
        return SCHEMA[kind]
    except KeyError:
        raise ValueError(f"unknown artifact kind {kind!r}; known: {sorted(SCHEMA)}") from None


def _check_shape(
    where: str, name: str, pattern: tuple[str | int, ...], shape: tuple[int, ...], dims: dict[str, int]
) -> str | None:
    """Match ``shape`` against ``pattern``, binding symbols in ``dims``; return an error or None."""
    if len(shape) != len(pattern):
        return f"{where}: dataset {name!r} has shape {shape}, expected {_fmt(pattern)}"
    for size, sym in zip(shape, pattern):
        if isinstance(sym, int):
            if size != sym:
                return f"{where}: dataset {name!r} has shape {shape}, expected {_fmt(pattern)}"
        elif sym in dims and dims[sym] != size:
            return (
                f"{where}: dataset {name!r} has shape {shape}, expected {_fmt(pattern)} "
                f"with {sym}={dims[sym]} (from other datasets)"
            )
        else:
            dims[sym] = size
    return None


def _fmt(pattern: tuple[str | int, ...]) -> str:
    return "(" + ", ".join(str(p) for p in pattern) + ")"


def _coerce(name: str, spec: DatasetSpec, value: Any) -> np.ndarray:
    arr = np.asarray(value)
    want = np.dtype(spec.dtype)
    if arr.dtype == want:
        return arr
    if want.kind == "f" and arr.dtype.kind in "f":
        return arr.astype(want)
    raise ValueError(f"dataset {name!r} has dtype {arr.dtype}, expected {want}")


def _check_attr(where: str, spec: AttrSpec, value: Any, dims: dict[str, int]) -> str | None:
    if spec.type == "float":
        try:
            float(value)
        except (TypeError, ValueError):
            return f"{where}: attr {spec.name!r}={value!r} is not a number"
    elif spec.type == "str":
        if not isinstance(value, str):
            return f"{where}: attr {spec.name!r} must be a string, got {type(value).__name__}"
    elif spec.type == "str_list":
        if isinstance(value, str) or not all(isinstance(v, str) for v in value):
            return f"{where}: attr {spec.name!r} must be a list of strings"
        if spec.length is not None and spec.length in dims and len(value) != dims[spec.length]:
            return (
                f"{where}: attr {spec.name!r} has {len(value)} entries, "
                f"expected {spec.length}={dims[spec.length]}"
            )
    return None


def validate(kind: str, datasets: Mapping[str, Any], attrs: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Check datasets/attrs against the schema; return the arrays in schema dtypes.

    Raises ValueError naming the offending dataset or attribute.
    """
    spec = _kind(kind)
    known = {d.name for d in spec.datasets}
    extra = sorted(set(datasets) - known)
    if extra:
        raise ValueError(f"{kind}: datasets {extra} are not in the schema (known: {sorted(known)})")
    out: dict[str, np.ndarray] = {}
    dims: dict[str, int] = {}
    for d in spec.datasets:
        if d.name not in datasets:
            if d.required:
                raise ValueError(f"{kind}: required dataset {d.name!r} is missing")
            continue
        arr = _coerce(d.name, d, datasets[d.name])
        err = _check_shape(kind, d.name, d.shape, arr.shape, dims)
        if err:
            raise ValueError(err)
        out[d.name] = arr
    for a in spec.attrs:
        if a.name not in attrs:
            if a.required:
                raise ValueError(f"{kind}: required attr {a.name!r} is missing")
            continue
        err = _check_attr(kind, a, attrs[a.name], dims)
        if err:
            raise ValueError(err)
    return out


def _h5_attr(value: Any) -> Any:
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return np.array(value, dtype=h5py.string_dtype())
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value)
    return value


def _py_attr(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "OSU":
            return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in value.tolist()]
        return value
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_artifact(
    path: str | os.PathLike,
    kind: str,
    datasets: Mapping[str, Any],
    attrs: Mapping[str, Any] | None = None,
    created_by: str = "",
) -> Path:
    """Validate and write one artifact atomically (temp file + rename); return the path.

    ``created_by`` should name the stage and the config hash, e.g. ``"densify config=1a2b..."``.
    Image-like datasets are chunked per frame and gzip-compressed; small per-frame arrays are
    stored contiguously.
    """
    path = Path(path)
    attrs = dict(attrs or {})
    arrays = validate(kind, datasets, attrs)
    spec = _kind(kind)
    with _atomic_file(path, kind, created_by) as f:
        for key, value in attrs.items():
            f.attrs[key] = _h5_attr(value)
        for name, arr in arrays.items():
            d = spec.dataset(name)
            big = arr.ndim >= 2 and arr.shape[0] > 0 and arr[0].nbytes >= 16384
            if (d.image or big) and arr.shape[0] > 0:
                f.create_dataset(
                    name,
                    data=arr,
                    chunks=(1,) + arr.shape[1:],
                    compression="gzip" if d.image else None,
                    compression_opts=3 if d.image else None,
                    shuffle=d.image,
                )
            else:
                f.create_dataset(name, data=arr)
    return path


@contextmanager
def _atomic_file(path: Path, kind: str, created_by: str, check: bool = False) -> Iterator[h5py.File]:
    """An HDF5 file with the artifact header, written as ``<path>.tmp-<pid>`` and renamed to
    ``path`` when the block ends (after validating it as a reader would, with ``check``);
    removed on any error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["schema_version"] = SCHEMA_VERSION
            f.attrs["kind"] = kind
            f.attrs["created_by"] = created_by
            yield f
        if check:
            with open_artifact(tmp, kind):
                pass  # raises ArtifactError naming what is missing or inconsistent
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class ArtifactWriter:
    """An artifact written piece by piece (see :func:`artifact_writer`): per-frame datasets grow
    one frame at a time, so a long video never has to be in memory at once."""

    def __init__(self, handle: h5py.File, kind: str) -> None:
        self._f = handle
        self._spec = _kind(kind)
        self.attrs: dict[str, Any] = {}

    def _dataset_spec(self, name: str) -> DatasetSpec:
        try:
            return self._spec.dataset(name)
        except KeyError:
            raise ValueError(f"{self._spec.name}: dataset {name!r} is not in the schema") from None

    def append(self, name: str, frame: Any) -> None:
        """Append one frame (the dataset's shape without its first dimension) to ``name``."""
        spec = self._dataset_spec(name)
        arr = _coerce(name, spec, frame)
        if name not in self._f:
            self._f.create_dataset(name, shape=(0,) + arr.shape, maxshape=(None,) + arr.shape, dtype=arr.dtype,
                                   chunks=(1,) + arr.shape, compression="gzip" if spec.image else None,
                                   compression_opts=3 if spec.image else None, shuffle=spec.image)
        ds = self._f[name]
        if ds.shape[1:] != arr.shape:
            raise ValueError(f"{self._spec.name}: frame {ds.shape[0]} of {name!r} has shape {arr.shape}, "
                             f"earlier frames {ds.shape[1:]}")
        ds.resize(ds.shape[0] + 1, axis=0)
        ds[-1] = arr

    def write(self, name: str, value: Any) -> None:
        """Write a whole (small) dataset at once."""
        self._f.create_dataset(name, data=_coerce(name, self._dataset_spec(name), value))


@contextmanager
def artifact_writer(path: str | os.PathLike, kind: str, created_by: str = "") -> Iterator[ArtifactWriter]:
    """Write an artifact incrementally into ``<path>.tmp-<pid>``; on leaving the block it is
    validated against the schema (as a reader would) and renamed into place, and on an error
    removed, so readers never see a partial or invalid file."""
    with _atomic_file(Path(path), kind, created_by, check=True) as f:
        writer = ArtifactWriter(f, kind)
        yield writer
        for key, value in writer.attrs.items():
            f.attrs[key] = _h5_attr(value)


class ArtifactReader:
    """An open, validated artifact; datasets are read lazily (``reader["frames"][i]``)."""

    def __init__(self, path: Path, kind: str, handle: h5py.File):
        self.path = path
        self.kind = kind
        self._f = handle
        self.attrs: dict[str, Any] = {k: _py_attr(v) for k, v in handle.attrs.items()}
        self.dims: dict[str, int] = {}
        self._validate()

    def _validate(self) -> None:
        where = f"artifact {self.path}"
        got_kind = self.attrs.get("kind")
        if got_kind != self.kind:
            raise ArtifactError(f"{where}: kind is {got_kind!r}, expected {self.kind!r}")
        version = self.attrs.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ArtifactError(
                f"{where}: schema_version {version!r}, this code reads version {SCHEMA_VERSION}; "
                "re-run the stage that made it"
            )
        spec = _kind(self.kind)
        for d in spec.datasets:
            if d.name not in self._f:
                if d.required:
                    raise ArtifactError(f"{where}: required dataset {d.name!r} is missing")
                continue
            ds = self._f[d.name]
            if not isinstance(ds, h5py.Dataset):
                raise ArtifactError(f"{where}: {d.name!r} is not a dataset")
            if ds.dtype != np.dtype(d.dtype):
                raise ArtifactError(f"{where}: dataset {d.name!r} has dtype {ds.dtype}, expected {d.dtype}")
            err = _check_shape(where, d.name, d.shape, ds.shape, self.dims)
            if err:
                raise ArtifactError(err)
        for a in spec.attrs:
            if a.name not in self.attrs:
                if a.required:
                    raise ArtifactError(f"{where}: required attr {a.name!r} is missing")
                continue
            err = _check_attr(where, a, self.attrs[a.name], self.dims)
            if err:
                raise ArtifactError(err)

    @property
    def n_frames(self) -> int:
        return int(self.dims.get("N", 0))

    def __contains__(self, name: str) -> bool:
        return name in self._f

    def __getitem__(self, name: str) -> h5py.Dataset:
        if name not in self._f:
            raise ArtifactError(f"artifact {self.path}: dataset {name!r} is not present")
        return self._f[name]

    def read(self, name: str, index: Any = ...) -> np.ndarray:
        """Read a dataset (or a slice of it), wrapping HDF5 errors with the file name."""
        try:
            return self[name][index]
        except (OSError, RuntimeError, ValueError) as exc:
            raise ArtifactError(f"artifact {self.path}: cannot read dataset {name!r}: {exc}") from exc


@contextmanager
def open_artifact(path: str | os.PathLike, kind: str) -> Iterator[ArtifactReader]:
    """Open and validate an artifact for lazy reads; raises ArtifactError naming the file."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"artifact {path}: file does not exist")
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise ArtifactError(
            f"artifact {path}: not a readable HDF5 file (truncated or corrupt?): {exc}"
        ) from exc
    try:
        try:
            reader = ArtifactReader(path, kind, handle)
        except (OSError, RuntimeError, KeyError) as exc:
            if isinstance(exc, ArtifactError):
                raise
            raise ArtifactError(f"artifact {path}: corrupt HDF5 structure: {exc}") from exc
        yield reader
    finally:
        handle.close()


def read_artifact(
    path: str | os.PathLike, kind: str, datasets: Sequence[str] | None = None
) -> dict[str, Any]:
    """Read an artifact fully (or only ``datasets``) after validating it against the schema.

    Returns ``{dataset name: array, ..., "attrs": {name: value}}``. Optional datasets that are
    absent are left out unless named in ``datasets`` (then it is an error).
    """
    with open_artifact(path, kind) as reader:
        known = [d.name for d in SCHEMA[kind].datasets]
        names = [n for n in known if n in reader] if datasets is None else list(datasets)
        out: dict[str, Any] = {}
        for name in names:
            if name not in known:
                raise ArtifactError(f"artifact {reader.path}: {name!r} is not a dataset of kind {kind!r}")
            out[name] = reader.read(name)
        out["attrs"] = dict(reader.attrs)
    return out


def schema_markdown() -> str:
    """The schema as a Markdown table (for documentation and reports)."""
    lines = ["| kind | dataset | dtype | shape | units | required | description |",
             "|---|---|---|---|---|---|---|"]
    for kind in SCHEMA.values():
        for d in kind.datasets:
            lines.append(
                f"| {kind.name} | {d.name} | {d.dtype} | {_fmt(d.shape)} | {d.units} | "
                f"{'yes' if d.required else 'no'} | {d.doc} |"
            )
        for a in kind.attrs:
            lines.append(
                f"| {kind.name} | attr `{a.name}` | {a.type} | {a.length or ''} | | "
                f"{'yes' if a.required else 'no'} | {a.doc} |"
            )
    return "\n".join(lines)
