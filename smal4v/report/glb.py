"""One animated glTF binary (GLB) per video: every variant's mesh sequence, played in time.

Layout: a root node turns the camera frame (x right, y down, z forward) into glTF's (y up,
z towards the viewer); under it one node per variant, side by side along x; under each
variant one node per frame carrying that frame's mesh. The animation ``play`` shows each frame
node only during its frame (STEP-interpolated scale 1, else 0), so any glTF viewer (Blender,
three.js, model-viewer) plays the video's meshes at its frame rate. Frame 0 is visible at rest.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pygltflib as gl

from smal4v.report.mesh_sequence import MeshSequence

CAMERA_TO_GLTF = [1.0, 0.0, 0.0, 0.0]
"""Quaternion (x, y, z, w) of a half turn about x: camera frame -> glTF axes."""
SPACING = 1.3
"""Distance between neighbouring variants, in units of the largest mesh extent."""


class _Buffer:
    """Accumulates binary data and the accessors that point into it."""

    def __init__(self, gltf: gl.GLTF2) -> None:
        self.gltf, self.chunks, self.size = gltf, [], 0

    def add(self, array: np.ndarray, component: int, kind: str, target: int | None = None,
            bounds: bool = False) -> int:
        """Append ``array`` as one buffer view + accessor; returns the accessor index."""
        data = np.ascontiguousarray(array).tobytes()
        pad = (-len(data)) % 4
        self.gltf.bufferViews.append(gl.BufferView(buffer=0, byteOffset=self.size, byteLength=len(data), target=target))
        self.chunks.append(data + b"\0" * pad)
        self.size += len(data) + pad
        flat = array.reshape(len(array), -1)
        accessor = gl.Accessor(bufferView=len(self.gltf.bufferViews) - 1, componentType=component,
                               count=len(array), type=kind)
        if bounds:
            accessor.min, accessor.max = flat.min(0).tolist(), flat.max(0).tolist()
        self.gltf.accessors.append(accessor)
        return len(self.gltf.accessors) - 1


def frame_scale_keys(frame: int, n_frames: int, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Key times and (uniform) scales that show frame node ``frame`` only during its frame."""
    times, scales = [], []
    if frame > 0:
        times.append(0.0), scales.append(0.0)
    times.append(frame / fps), scales.append(1.0)
    if frame < n_frames - 1:
        times.append((frame + 1) / fps), scales.append(0.0)
    return np.asarray(times, np.float32), np.repeat(np.asarray(scales, np.float32)[:, None], 3, axis=1)


def write_animated_glb(path: str | Path, sequence: MeshSequence, colours: dict[str, tuple[float, float, float]]) -> Path:
    """Write ``sequence`` as one animated GLB (layout in the module docstring)."""
    path = Path(path)
    gltf = gl.GLTF2(asset=gl.Asset(generator="smal4v"), scene=0)
    buf = _Buffer(gltf)
    faces = sequence.faces.astype(np.uint32).reshape(-1, 1)
    indices = buf.add(faces, gl.UNSIGNED_INT, gl.SCALAR, gl.ELEMENT_ARRAY_BUFFER)
    extent = max(float(np.ptp(v.reshape(-1, 3), axis=0).max()) for v in sequence.vertices.values())
    root = gl.Node(name="camera_frame", rotation=CAMERA_TO_GLTF, children=[])
    gltf.nodes.append(root)
    animation = gl.Animation(name="play", samplers=[], channels=[])
    n = sequence.n_frames
    for k, (variant, verts) in enumerate(sequence.vertices.items()):
        gltf.materials.append(gl.Material(name=variant, doubleSided=True, pbrMetallicRoughness=gl.PbrMetallicRoughness(
            baseColorFactor=[*colours.get(variant, (0.7, 0.7, 0.7)), 1.0], metallicFactor=0.0, roughnessFactor=0.8)))
        centre = verts.reshape(-1, 3).mean(0)
        variant_node = gl.Node(name=variant, children=[],
                               translation=[float(k * SPACING * extent - centre[0]), float(-centre[1]), float(-centre[2])])
        gltf.nodes.append(variant_node)
        root.children.append(len(gltf.nodes) - 1)
        for i, frame_verts in enumerate(verts):
            position = buf.add(frame_verts.astype(np.float32), gl.FLOAT, gl.VEC3, gl.ARRAY_BUFFER, bounds=True)
            gltf.meshes.append(gl.Mesh(name=f"{variant}_{i:06d}", primitives=[gl.Primitive(
                attributes=gl.Attributes(POSITION=position), indices=indices, material=len(gltf.materials) - 1)]))
            gltf.nodes.append(gl.Node(name=f"{variant}_frame_{i:06d}", mesh=len(gltf.meshes) - 1,
                                      scale=[1.0, 1.0, 1.0] if i == 0 else [0.0, 0.0, 0.0]))
            variant_node.children.append(len(gltf.nodes) - 1)
            if n > 1:
                times, scales = frame_scale_keys(i, n, sequence.fps)
                animation.samplers.append(gl.AnimationSampler(
                    input=buf.add(times.reshape(-1, 1), gl.FLOAT, gl.SCALAR, bounds=True),
                    output=buf.add(scales, gl.FLOAT, gl.VEC3), interpolation=gl.ANIM_STEP))
                animation.channels.append(gl.AnimationChannel(
                    sampler=len(animation.samplers) - 1,
                    target=gl.AnimationChannelTarget(node=len(gltf.nodes) - 1, path="scale")))
    if animation.channels:
        gltf.animations.append(animation)
    gltf.scenes.append(gl.Scene(nodes=[0]))
    blob = b"".join(buf.chunks)
    gltf.buffers.append(gl.Buffer(byteLength=len(blob)))
    gltf.set_binary_blob(blob)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    gltf.save_binary(str(tmp))
    tmp.replace(path)
    return path
