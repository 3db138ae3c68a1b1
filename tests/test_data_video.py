"""Video and frame-folder reading/writing, including natural (numeric) frame order."""

from __future__ import annotations

import hashlib

import cv2
import imageio.v3 as iio
import numpy as np
import pytest

from smal4v.data.video import (
    VideoError, natural_key, probe_video, read_video, write_gif, write_mp4,
)


def _smooth_frames(n: int = 6, h: int = 48, w: int = 64) -> np.ndarray:
    """Smooth colour ramps (H.264 keeps them to within a few grey levels)."""
    yy, xx = np.mgrid[0:h, 0:w]
    frames = [
        np.stack([(xx * 4 + t * 10) % 256, (yy * 5) % 256, np.full_like(xx, 40 * t % 256)], -1)
        for t in range(n)
    ]
    return np.stack(frames).astype(np.uint8)


def test_mp4_round_trip(tmp_path):
    frames = _smooth_frames()
    path = write_mp4(tmp_path / "v.mp4", frames, fps=12)
    video = read_video(path)
    assert video.frames.shape == frames.shape and video.fps == pytest.approx(12)
    err = np.abs(video.frames.astype(int) - frames.astype(int)).mean(axis=(1, 2, 3))
    assert err.max() < 6, err  # lossy, but each frame matches its own original
    assert probe_video(path) == (6, (64, 48), pytest.approx(12))
    assert read_video(path, max_frames=2).frames.shape[0] == 2


def test_mp4_bytes_depend_only_on_the_frames(tmp_path):
    """Repeated writes of the same frames give the same file (without ``exact``, libx264's
    assembly gave 11 different encodings of these frames in 12 calls)."""
    frames = _smooth_frames(n=6, h=90, w=160)
    digests = {hashlib.md5(write_mp4(tmp_path / f"{i}.mp4", frames, fps=25).read_bytes()).hexdigest() for i in range(12)}
    assert len(digests) == 1


def test_mp4_pads_odd_sizes(tmp_path):
    frames = _smooth_frames(n=3, h=31, w=45)
    video = read_video(write_mp4(tmp_path / "odd.mp4", frames, fps=5))
    assert video.frames.shape == (3, 32, 46, 3)


def test_frame_folder_natural_sort(tmp_path):
    frames = _smooth_frames(n=12)
    for i, f in enumerate(frames, start=1):  # 1.png ... 12.png: lexical order would be 1, 10, 11, 12, 2
        cv2.imwrite(str(tmp_path / f"{i}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    video = read_video(tmp_path, fps=7)
    np.testing.assert_array_equal(video.frames, frames)  # PNG is lossless: exact order check
    assert video.names == [str(i) for i in range(1, 13)] and video.fps == 7
    assert probe_video(tmp_path) == (12, (64, 48), None)
    assert sorted(["img_10.jpg", "img_9.jpg", "img_1.jpg"], key=natural_key) == ["img_1.jpg", "img_9.jpg", "img_10.jpg"]


def test_errors_name_the_file(tmp_path):
    with pytest.raises(VideoError, match="missing.mp4"):
        read_video(tmp_path / "missing.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"garbage" * 10)
    with pytest.raises(VideoError, match="bad.mp4"):
        read_video(bad)
    folder = tmp_path / "frames"
    folder.mkdir()
    with pytest.raises(VideoError, match="no image files"):
        read_video(folder)
    cv2.imwrite(str(folder / "0.png"), np.zeros((8, 8, 3), np.uint8))
    cv2.imwrite(str(folder / "1.png"), np.zeros((9, 8, 3), np.uint8))
    with pytest.raises(VideoError, match="1.png.*mixed sizes"):
        read_video(folder)


def test_gif_downscale_and_timing(tmp_path):
    frames = _smooth_frames(n=4)
    path = write_gif(tmp_path / "a.gif", frames, fps=5, max_side=32)
    gif = iio.imread(path)
    assert gif.shape[:3] == (4, 24, 32)
    assert iio.immeta(path)["duration"] == 200
