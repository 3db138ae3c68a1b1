"""Animated GLB and viewer page of a mesh sequence: read back with independent readers (trimesh,
pygltflib accessors decoded by hand, the page's JSON decoded with numpy), bad input refused."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pygltflib
import pytest

from smal4v.report.glb import frame_scale_keys, write_animated_glb
from smal4v.report.mesh_sequence import MeshSequence, checked_vertices
from smal4v.report.viewer import (MAX_PAGE_BYTES, cluster_vertices, dequantise, display_plan, quantise, viewer_data,
                                  write_viewer_html)

COLOURS = {"online": (0.0, 0.6, 0.9), "refined": (0.7, 0.4, 0.85)}


def _sequence(n_frames: int = 4) -> MeshSequence:
    """A tetrahedron per variant that moves and turns from frame to frame."""
    base = np.array([[0, 0, 3], [1, 0, 3], [0, 1, 3], [0, 0, 4]], dtype=np.float32)
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    frames = [base + np.float32(0.1 * i) * np.array([1, -1, 0.5], dtype=np.float32) for i in range(n_frames)]
    verts = np.stack(frames)
    return MeshSequence(faces, {"online": verts, "refined": verts * np.float32(1.1)}, fps=12.5)


def _accessor(gltf: pygltflib.GLTF2, index: int) -> np.ndarray:
    """Decode one accessor of a GLB (float32 VEC3/SCALAR or uint32 SCALAR) independently."""
    acc = gltf.accessors[index]
    view = gltf.bufferViews[acc.bufferView]
    blob = gltf.binary_blob()
    dtype = {pygltflib.FLOAT: np.float32, pygltflib.UNSIGNED_INT: np.uint32}[acc.componentType]
    width = {"SCALAR": 1, "VEC3": 3}[acc.type]
    data = np.frombuffer(blob, dtype=dtype, count=acc.count * width, offset=view.byteOffset + (acc.byteOffset or 0))
    return data.reshape(acc.count, width)


def _step_sample(times: np.ndarray, values: np.ndarray, t: float) -> np.ndarray:
    """glTF STEP interpolation: the value of the last key at or before t (the first before it)."""
    k = np.searchsorted(times, t, side="right") - 1
    return values[max(k, 0)]


def test_glb_holds_every_frame_of_every_variant_and_plays_them_in_time(tmp_path):
    seq = _sequence()
    path = write_animated_glb(tmp_path / "m.glb", seq, COLOURS)
    gltf = pygltflib.GLTF2().load(str(path))
    frame_nodes = {n.name: n for n in gltf.nodes if n.mesh is not None}
    assert len(frame_nodes) == 2 * seq.n_frames
    channels = {c.target.node: gltf.animations[0].samplers[c.sampler] for c in gltf.animations[0].channels}
    for variant, verts in seq.vertices.items():
        for i in range(seq.n_frames):
            node = frame_nodes[f"{variant}_frame_{i:06d}"]
            prim = gltf.meshes[node.mesh].primitives[0]
            np.testing.assert_array_equal(_accessor(gltf, prim.attributes.POSITION), verts[i])
            np.testing.assert_array_equal(_accessor(gltf, prim.indices).reshape(-1, 3), seq.faces)
            sampler = channels[gltf.nodes.index(node)]
            assert sampler.interpolation == "STEP"
            times, scales = _accessor(gltf, sampler.input)[:, 0], _accessor(gltf, sampler.output)
            for j in range(seq.n_frames):  # visible exactly during its own frame
                shown = _step_sample(times, scales, (j + 0.5) / seq.fps)
                np.testing.assert_array_equal(shown, np.full(3, 1.0 if j == i else 0.0))
            assert node.scale == ([1.0] * 3 if i == 0 else [0.0] * 3)  # at rest: frame 0


def test_glb_loads_in_trimesh_with_the_same_vertices(tmp_path):
    trimesh = pytest.importorskip("trimesh")
    seq = _sequence(3)
    scene = trimesh.load(write_animated_glb(tmp_path / "m.glb", seq, COLOURS), force="scene")
    assert len(scene.geometry) == 2 * 3
    got = sorted(np.round(g.vertices, 5).tobytes() for g in scene.geometry.values())
    want = sorted(np.round(v[i].astype(np.float64), 5).tobytes() for v in seq.vertices.values() for i in range(3))
    assert got == want


def test_frame_scale_keys_single_frame_and_ends():
    times, scales = frame_scale_keys(0, 3, 10.0)
    np.testing.assert_allclose(times, [0.0, 0.1])
    np.testing.assert_array_equal(scales[:, 0], [1, 0])
    times, scales = frame_scale_keys(2, 3, 10.0)
    np.testing.assert_allclose(times, [0.0, 0.2])
    np.testing.assert_array_equal(scales[:, 0], [0, 1])


def test_quantisation_error_is_below_one_step():
    verts = np.random.default_rng(0).normal(size=(5, 50, 3)).astype(np.float32)
    codes, lo, step = quantise(verts)
    assert codes.dtype == np.dtype("<u2") and codes.max() == 65535 and codes.min() == 0
    assert np.abs(dequantise(codes, lo, step) - verts).max() <= step.max() / 2 + 1e-7


def test_viewer_page_is_self_contained_and_its_data_decodes_to_the_meshes(tmp_path):
    seq = _sequence()
    page = write_viewer_html(tmp_path / "v.html", seq, COLOURS, "cows <01>").read_text()
    assert "cows &lt;01&gt;" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "the page must fetch nothing"
    assert "fetch(" not in page and "XMLHttpRequest" not in page and "import(" not in page
    data = json.loads(re.search(r'<script type="application/json" id="smal4v-data">(.*?)</script>', page, re.S).group(1))
    assert data["frames"] == seq.n_frames and data["fps"] == seq.fps and data["vertices"] == 4
    np.testing.assert_array_equal(np.frombuffer(base64.b64decode(data["faces"]), "<u4").reshape(-1, 3), seq.faces)
    assert [v["name"] for v in data["variants"]] == list(seq.vertices)
    for v in data["variants"]:
        codes = np.frombuffer(base64.b64decode(v["positions"]), "<u2").reshape(seq.n_frames, 4, 3)
        decoded = np.asarray(v["lo"]) + codes * np.asarray(v["step"])
        np.testing.assert_allclose(decoded, seq.vertices[v["name"]], atol=float(max(v["step"])))
        np.testing.assert_allclose(v["centre"], seq.vertices[v["name"]].reshape(-1, 3).mean(0), rtol=1e-6)
    assert viewer_data(seq, COLOURS, "t")["variants"][0]["colour"] == list(COLOURS["online"])


def test_vertex_check_names_the_file_for_missing_misshapen_short_or_nan_vertices():
    faces = np.array([[0, 1, 2]])
    good = np.zeros((2, 3, 3))
    assert checked_vertices("p.h5", good, faces, 2).dtype == np.float32
    for verts, n, message in [(None, None, "no 'vertices'"), (np.zeros((2, 2, 3)), None, "do not fit"),
                              (good, 3, "2 frames, the other variants have 3"),
                              (np.full((2, 3, 3), np.nan), None, "non-finite")]:
        with pytest.raises(ValueError, match=f"predictions p.h5: .*{re.escape(message)}"):
            checked_vertices("p.h5", verts, faces, n)


def test_display_plan_keeps_everything_that_fits_then_thins_vertices_then_frames():
    assert display_plan(4498, 10, 1) == (4498, 1)
    vertices, step = display_plan(4498, 40, 5)
    assert step == 1 and 800 <= vertices < 4498
    vertices, step = display_plan(4498, 3000, 5)
    assert vertices == 800 and step > 1
    budget = (MAX_PAGE_BYTES - 40_000) * 3 // 4
    faces_bytes = 2 * vertices * 12
    assert -(-3000 // step) * 5 * vertices * 6 + faces_bytes <= budget < -(-3000 // (step - 1)) * 5 * vertices * 6 + faces_bytes


def test_coarse_display_mesh_is_a_vertex_subset_with_valid_faces():
    from smal4v.model import load_model_data

    model = load_model_data("procedural")
    points, faces = np.asarray(model.v_template), np.asarray(model.faces)
    ids, coarse = cluster_vertices(points, faces, 1000)
    assert 900 <= len(ids) <= 1000 and len(np.unique(ids)) == len(ids)
    assert coarse.min() >= 0 and coarse.max() < len(ids) and (np.diff(np.sort(coarse, 1), axis=1) > 0).all()
    assert len(np.unique(coarse)) > 0.95 * len(ids)  # nearly every kept vertex is used by a face
    # the coarse surface stays close to the full one: every full vertex near a kept vertex
    nearest = np.min(np.linalg.norm(points[:, None] - points[ids][None], axis=2), axis=1)
    assert nearest.max() < 0.06 * np.ptp(points, axis=0).max()


def test_a_long_sequence_page_stays_under_the_report_limit(tmp_path):
    base = _sequence(2)
    rng = np.random.default_rng(1)
    faces = rng.integers(0, 3000, size=(6000, 3))
    verts = {v: rng.normal(size=(300, 3000, 3)).astype(np.float32) for v in ("online", "refined")}
    page = write_viewer_html(tmp_path / "v.html", MeshSequence(faces, verts, base.fps), COLOURS, "long")
    assert page.stat().st_size <= MAX_PAGE_BYTES
    data = json.loads(re.search(r'id="smal4v-data">(.*?)</script>', page.read_text(), re.S).group(1))
    assert data["frame_step"] > 1 and data["video_frames"] == 300 and data["fps"] == base.fps / data["frame_step"]
    assert "one frame in" in page.read_text() and "display mesh" in page.read_text()
