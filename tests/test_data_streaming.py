"""Frame extraction streams the video: peak memory does not grow with the number of frames
(issue 16), and the streamed artifact equals the frames decoded in one piece."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from smal4v.data import artifacts
from smal4v.data.frames import extract_frames
from smal4v.data.video import VideoError, read_video, stream_video, write_mp4

H, W = 96, 160
Y0, SIDE = 32, 30  # the square's top row and side


def _video(path: Path, n: int) -> Path:
    """A moving bright square on noise, ``n`` frames of H x W."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 60, (n, H, W, 3)).astype(np.uint8)
    for t in range(n):
        x = 10 + (5 * t) % (W - 2 * SIDE)
        frames[t, Y0:Y0 + SIDE, x:x + SIDE] = 230
    return write_mp4(path, frames, fps=10, exact=False)


def _annotations(path: Path, n: int) -> Path:
    """Keypoint boxes on a few frames (masks read per frame from the artifact)."""
    keypoints = np.zeros((n, 2, 3), np.float32)
    masks = np.zeros((n, H, W), bool)
    given = np.zeros(n, bool)
    for t in range(0, n, 7):
        x = 10 + (5 * t) % (W - 2 * SIDE)
        masks[t, Y0:Y0 + SIDE, x:x + SIDE] = given[t] = True
    return artifacts.write_artifact(path, "annotations", {"keypoints": keypoints, "keypoint_split": np.zeros(n, np.uint8),
                                                          "masks": masks, "masks_given": given},
                                    {"keypoint_set": "x", "keypoint_names": ["a", "b"]})


def _peak_bytes(tmp_path: Path, n: int) -> int:
    video = _video(tmp_path / f"v{n}.mp4", n)
    annotations = _annotations(tmp_path / f"a{n}.h5", n)
    tracemalloc.start()
    try:
        extract_frames(video, tmp_path / f"f{n}.h5", crop_size=64, bbox_source=annotations)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_extraction_memory_is_flat_in_the_number_of_frames(tmp_path: Path) -> None:
    frame_bytes = H * W * 3
    short, long = _peak_bytes(tmp_path, 20), _peak_bytes(tmp_path, 60)
    # holding the video would add 40 frames (1.8 MB) to the long run's peak; streaming adds
    # only the per-frame boxes and names
    assert long < short + 5 * frame_bytes, (short, long)
    assert long < 30 * frame_bytes, long


def test_streamed_artifact_equals_the_decoded_video(tmp_path: Path) -> None:
    video = _video(tmp_path / "v.mp4", 15)
    out = extract_frames(video, tmp_path / "f.h5", crop_size=32, bbox_source=_annotations(tmp_path / "a.h5", 15))
    got = artifacts.read_artifact(out, "frames")
    whole = read_video(video)
    assert np.array_equal(got["frames"], whole.frames)
    assert got["attrs"]["frame_names"] == whole.names and got["attrs"]["fps"] == pytest.approx(10)
    assert got["crops"].shape == (15, 32, 32, 3) and np.isfinite(got["crop_boxes"]).all()
    assert not np.isnan(got["bboxes"][::7]).any() and np.isnan(got["bboxes"][1]).all()


def test_stream_decodes_lazily(tmp_path: Path) -> None:
    """Frames are read when asked for: a broken 6th image of a folder does not stop the first
    five, and the error then names it."""
    import cv2

    for t in range(8):
        cv2.imwrite(str(tmp_path / f"{t}.png"), np.full((H, W, 3), t, np.uint8))
    (tmp_path / "5.png").write_bytes(b"not a png")
    stream = stream_video(tmp_path, fps=5)
    first = [next(stream.frames) for _ in range(5)]
    assert [name for name, _ in first] == ["0", "1", "2", "3", "4"] and first[4][1].max() == 4
    with pytest.raises(VideoError, match=r"5\.png"):
        next(stream.frames)


def test_annotation_frame_count_mismatch_names_both_files(tmp_path: Path) -> None:
    video = _video(tmp_path / "v.mp4", 10)
    annotations = _annotations(tmp_path / "a.h5", 12)
    with pytest.raises(ValueError, match=rf"annotations {annotations} cover 12 frames, but {video} has 10 frames"):
        extract_frames(video, tmp_path / "f.h5", bbox_source=annotations)
    assert not (tmp_path / "f.h5").exists() and not list(tmp_path.glob("f.h5.tmp*"))
