"""Artifact schema: round trip, validation on write, and readers that name the file on error."""

from __future__ import annotations

import hashlib
import os

import h5py
import numpy as np
import pytest

from smal4v.data import artifacts as A


def _frames_payload(n: int = 3, h: int = 12, w: int = 16, s: int = 8):
    rng = np.random.default_rng(0)
    datasets = {
        "frames": rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8),
        "crops": rng.integers(0, 256, (n, s, s, 3), dtype=np.uint8),
        "crop_boxes": rng.random((n, 3)).astype(np.float32),
        "bboxes": np.array([[1, 2, 3, 4], [np.nan] * 4, [0, 0, 5, 5]], dtype=np.float64),
    }
    attrs = {"fps": 25.0, "source": "video.mp4", "frame_names": [f"{i:06d}" for i in range(n)]}
    return datasets, attrs


def test_round_trip_preserves_values_dtypes_and_attrs(tmp_path):
    datasets, attrs = _frames_payload()
    path = A.write_artifact(tmp_path / "f.h5", "frames", datasets, attrs, created_by="extract cfg=abc")
    got = A.read_artifact(path, "frames")
    for name, arr in datasets.items():
        assert got[name].dtype == np.dtype(A.SCHEMA["frames"].dataset(name).dtype)
        np.testing.assert_array_equal(got[name], np.asarray(arr, dtype=got[name].dtype))
    assert got["attrs"]["frame_names"] == attrs["frame_names"]
    assert got["attrs"]["fps"] == 25.0 and got["attrs"]["source"] == "video.mp4"
    assert got["attrs"]["schema_version"] == A.SCHEMA_VERSION and got["attrs"]["kind"] == "frames"
    assert got["attrs"]["created_by"] == "extract cfg=abc"
    with h5py.File(path) as f:  # images chunked per frame and compressed
        assert f["frames"].chunks == (1, 12, 16, 3) and f["frames"].compression == "gzip"
    sub = A.read_artifact(path, "frames", ["crop_boxes"])
    assert set(sub) == {"crop_boxes", "attrs"}


def test_optional_datasets_and_lazy_reader(tmp_path):
    n, k = 4, 5
    ds = {
        "masks": np.zeros((n, 6, 7), bool),
        "has_mask": np.ones(n, bool),
        "keypoints": np.zeros((n, k, 3), np.float32),
        "focal": np.full(n, 500.0),
    }
    path = A.write_artifact(tmp_path / "gt.h5", "ground_truth", ds, {"family": "dog"})
    with A.open_artifact(path, "ground_truth") as r:
        assert r.n_frames == n and r.dims["K"] == k
        assert r["masks"][2].shape == (6, 7)
        assert "vertices" not in r
    with pytest.raises(A.ArtifactError, match="vertices"):
        A.read_artifact(path, "ground_truth", ["vertices"])


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda d: d.pop("crops"), "'crops' is missing"),
        (lambda d: d.update(extra=np.zeros(3)), "extra"),
        (lambda d: d.update(frames=d["frames"].astype(np.float32)), "'frames' has dtype float32"),
        (lambda d: d.update(crops=d["crops"][:2]), "'crops' has shape .* N=3"),
        (lambda d: d.update(crop_boxes=np.zeros((3, 4), np.float32)), "'crop_boxes' has shape"),
    ],
)
def test_write_rejects_invalid_datasets(tmp_path, mutate, match):
    datasets, attrs = _frames_payload()
    mutate(datasets)
    with pytest.raises(ValueError, match=match):
        A.write_artifact(tmp_path / "bad.h5", "frames", datasets, attrs)
    assert not any(tmp_path.iterdir())


def test_write_rejects_bad_attrs(tmp_path):
    datasets, attrs = _frames_payload()
    attrs["frame_names"] = ["a", "b"]
    with pytest.raises(ValueError, match="frame_names"):
        A.write_artifact(tmp_path / "bad.h5", "frames", datasets, attrs)
    del attrs["frame_names"]
    with pytest.raises(ValueError, match="frame_names"):
        A.write_artifact(tmp_path / "bad.h5", "frames", datasets, attrs)


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    datasets, attrs = _frames_payload()
    target = tmp_path / "f.h5"
    calls = {"n": 0}
    real = h5py.Group.create_dataset

    def failing(self, name, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated kill")
        return real(self, name, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", failing)
    with pytest.raises(KeyboardInterrupt):
        A.write_artifact(target, "frames", datasets, attrs)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # temp file cleaned up too


def test_replacing_keeps_old_file_until_new_one_is_complete(tmp_path, monkeypatch):
    datasets, attrs = _frames_payload()
    target = A.write_artifact(tmp_path / "f.h5", "frames", datasets, attrs, created_by="v1")
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        A.write_artifact(target, "frames", datasets, attrs, created_by="v2")
    monkeypatch.undo()
    assert A.read_artifact(target, "frames", [])["attrs"]["created_by"] == "v1"


def test_reader_errors_name_the_file(tmp_path):
    datasets, attrs = _frames_payload(n=3, h=64, w=64)
    good = A.write_artifact(tmp_path / "good.h5", "frames", datasets, attrs)

    missing = tmp_path / "nope.h5"
    with pytest.raises(A.ArtifactError, match=f"{missing}.*does not exist"):
        A.read_artifact(missing, "frames")

    truncated = tmp_path / "trunc.h5"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(A.ArtifactError, match=str(truncated)):
        A.read_artifact(truncated, "frames")

    text = tmp_path / "text.h5"
    text.write_text("not hdf5")
    with pytest.raises(A.ArtifactError, match=f"{text}.*not a readable HDF5"):
        A.read_artifact(text, "frames")

    with pytest.raises(A.ArtifactError, match=f"{good}.*kind is 'frames', expected 'silhouettes'"):
        A.read_artifact(good, "silhouettes")

    def edited(name, edit):
        path = tmp_path / name
        path.write_bytes(good.read_bytes())
        with h5py.File(path, "a") as f:
            edit(f)
        return path

    p = edited("nocrops.h5", lambda f: f.__delitem__("crops"))
    with pytest.raises(A.ArtifactError, match=f"{p}.*'crops' is missing"):
        A.read_artifact(p, "frames")

    def reshape(f):
        del f["crop_boxes"]
        f["crop_boxes"] = np.zeros((3, 2), np.float32)

    p = edited("shape.h5", reshape)
    with pytest.raises(A.ArtifactError, match=f"{p}.*'crop_boxes' has shape \\(3, 2\\)"):
        A.read_artifact(p, "frames")

    p = edited("version.h5", lambda f: f.attrs.__setitem__("schema_version", 99))
    with pytest.raises(A.ArtifactError, match=f"{p}.*schema_version 99"):
        A.read_artifact(p, "frames")


def test_config_hash_is_stable_and_order_free():
    a = A.config_hash({"b": 1, "a": [1, 2, {"x": 0.5}]})
    b = A.config_hash({"a": [1, 2, {"x": 0.5}], "b": 1})
    assert a == b and len(a) == 40
    assert a != A.config_hash({"b": 2, "a": [1, 2, {"x": 0.5}]})
    canonical = '{"a":[1,2,{"x":0.5}],"b":1}'
    assert a == hashlib.sha1(canonical.encode()).hexdigest()


def test_schema_markdown_lists_every_dataset():
    table = A.schema_markdown()
    for kind in A.SCHEMA.values():
        for d in kind.datasets:
            assert f"| {kind.name} | {d.name} |" in table
