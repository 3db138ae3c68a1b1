"""Read videos / frame folders into RGB arrays and write MP4 / GIF files.

Frame folders are sorted *numerically* by the last integer in each file stem (``1.png, 2.png,
10.png``), never lexically; the reference code's sort key broke on such names (METHOD.md 8.6).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import imageio.v3 as iio
import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".gif")


class VideoError(RuntimeError):
    """A video or frame folder cannot be read or written; the message names the file."""


@dataclass
class Video:
    """Decoded frames ``(N, H, W, 3)`` uint8 RGB, their fps, names and source path."""

    frames: np.ndarray
    fps: float
    names: list[str]
    source: str


def natural_key(name: str) -> tuple:
    """Sort key: the last integer in the stem (numeric), then the full name as a tie-break."""
    stem = Path(name).stem
    numbers = re.findall(r"\d+", stem)
    return (0, int(numbers[-1]), name) if numbers else (1, 0, name)


def list_frame_files(folder: str | os.PathLike) -> list[Path]:
    """Image files of a frame folder in natural (numeric) order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise VideoError(f"frame folder {folder} does not exist")
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()]
    if not files:
        raise VideoError(f"frame folder {folder} holds no image files ({', '.join(IMAGE_EXTENSIONS)})")
    return sorted(files, key=lambda p: natural_key(p.name))


def read_image(path: str | os.PathLike) -> np.ndarray:
    """One image as (H, W, 3) uint8 RGB (grey and RGBA are converted)."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise VideoError(f"image {path} cannot be read (missing or not an image)")
    if img.dtype == np.uint16:
        img = (img // 257).astype(np.uint8)
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def iter_frame_folder(folder: str | os.PathLike, max_frames: int | None = None) -> Iterator[tuple[str, np.ndarray]]:
    """``(file stem, (H, W, 3) uint8 RGB)`` of each image of a folder (natural sort), one at a
    time; all frames must have one size."""
    files = list_frame_files(folder)
    first: np.ndarray | None = None
    for path in files[:max_frames]:
        img = read_image(path)
        if first is not None and img.shape != first.shape:
            raise VideoError(
                f"frame folder {folder}: {path.name} has size {img.shape[1]}x{img.shape[0]}, "
                f"but {files[0].name} has {first.shape[1]}x{first.shape[0]} (mixed sizes)"
            )
        first = img if first is None else first
        yield path.stem, img


def iter_video_file(path: str | os.PathLike, max_frames: int | None = None) -> Iterator[tuple[str, np.ndarray]]:
    """``(index as 6 digits, (H, W, 3) uint8 RGB)`` of each frame of a video file (PyAV), decoded
    one at a time."""
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"video {path} does not exist")
    n = 0
    try:
        for frame in iio.imiter(path, plugin="pyav"):
            if max_frames is not None and n >= max_frames:
                return
            if frame.ndim == 2:
                frame = np.repeat(frame[:, :, None], 3, axis=2)
            yield f"{n:06d}", np.ascontiguousarray(frame[:, :, :3]).astype(np.uint8, copy=False)
            n += 1
    except VideoError:
        raise
    except Exception as exc:  # PyAV raises many error types for broken files
        raise VideoError(f"video {path} cannot be decoded: {exc}") from exc
    if n == 0:
        raise VideoError(f"video {path} contains no frames")


@dataclass
class VideoStream:
    """A video file or frame folder whose frames are decoded one at a time (memory independent
    of the length): iterate ``frames`` for ``(name, (H, W, 3) uint8 RGB)``."""

    fps: float
    frames: Iterator[tuple[str, np.ndarray]]
    source: str


def stream_video(source: str | os.PathLike, fps: float = 25.0, max_frames: int | None = None) -> VideoStream:
    """Open a video file or a frame folder for frame-by-frame reading. ``fps`` applies to folders only."""
    source = Path(source)
    if source.is_dir():
        return VideoStream(float(fps), iter_frame_folder(source, max_frames), str(source))
    if not source.exists():
        raise VideoError(f"video source {source} does not exist")
    try:
        file_fps = float(iio.immeta(source, plugin="pyav").get("fps") or 25.0)
    except Exception as exc:
        raise VideoError(f"video {source} cannot be decoded: {exc}") from exc
    return VideoStream(file_fps, iter_video_file(source, max_frames), str(source))


def _collect(stream: VideoStream) -> Video:
    names, frames = [], []
    for name, frame in stream.frames:
        names.append(name)
        frames.append(frame)
    return Video(np.stack(frames), stream.fps, names, stream.source)


def read_frame_folder(
    folder: str | os.PathLike, fps: float = 25.0, max_frames: int | None = None
) -> Video:
    """Read a folder of images (natural sort) into a :class:`Video`; all frames must match."""
    return _collect(VideoStream(float(fps), iter_frame_folder(folder, max_frames), str(folder)))


def read_video_file(path: str | os.PathLike, max_frames: int | None = None) -> Video:
    """Decode a video file (via PyAV) into RGB frames and its fps."""
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"video {path} does not exist")
    return _collect(stream_video(path, max_frames=max_frames))


def read_video(
    source: str | os.PathLike, fps: float = 25.0, max_frames: int | None = None
) -> Video:
    """Read a video file or a frame folder (all frames in memory; :func:`stream_video` reads
    them one at a time). ``fps`` applies to folders only."""
    return _collect(stream_video(source, fps, max_frames))


def _pad_even(frames: np.ndarray) -> np.ndarray:
    """Pad (N, H, W, 3) with black at the bottom/right to even H and W (yuv420p needs it)."""
    pad_h = frames.shape[1] % 2
    pad_w = frames.shape[2] % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)))
    return frames


def _check_frames(frames: np.ndarray, path: Path) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise VideoError(f"writing {path}: expected frames (N>0, H, W, 3), got {frames.shape}")
    if frames.dtype != np.uint8:
        raise VideoError(f"writing {path}: expected uint8 frames, got {frames.dtype}")
    return frames


def write_mp4(path: str | os.PathLike, frames: np.ndarray, fps: float = 25.0, quality_crf: int = 18,
              exact: bool = True) -> Path:
    """Write an H.264 (libx264, yuv420p) MP4; odd sizes are padded to even with black.

    ``exact``: the bytes depend only on the frames (for videos the workflow reads back). That
    takes one libx264 thread, set through libx264's own ``x264-params`` (multi-threaded output
    varies with the machine's load) and libx264 without its assembly (``asm=0``: with it, the
    same frames gave 2-7 different encodings in 12 calls; 3-10x slower). ``exact=False`` keeps
    the fast assembly (overlay videos to look at).
    """
    path = Path(path)
    frames = _pad_even(_check_frames(frames, path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        with av.open(str(tmp), mode="w") as container:
            stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
            stream.width, stream.height = frames.shape[2], frames.shape[1]
            stream.pix_fmt = "yuv420p"
            stream.thread_count = 1
            params = "threads=1:lookahead-threads=1:sliced-threads=0" + (":asm=0" if exact else "")
            stream.options = {"crf": str(int(quality_crf)), "x264-params": params}
            for frame in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode(None))
        os.replace(tmp, path)
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise VideoError(f"cannot write video {path}: {exc}") from exc
    return path


def write_gif(
    path: str | os.PathLike, frames: np.ndarray, fps: float = 10.0, max_side: int | None = None
) -> Path:
    """Write an animated GIF (looping), optionally downscaled so the longer side <= max_side."""
    path = Path(path)
    frames = _check_frames(frames, path)
    if max_side is not None and max(frames.shape[1:3]) > max_side:
        scale = max_side / max(frames.shape[1:3])
        size = (max(1, round(frames.shape[2] * scale)), max(1, round(frames.shape[1] * scale)))
        frames = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        iio.imwrite(path, frames, extension=".gif", duration=1000.0 / fps, loop=0)
    except Exception as exc:
        raise VideoError(f"cannot write GIF {path}: {exc}") from exc
    return path


def probe_video(source: str | os.PathLike, max_frames: int | None = None) -> tuple[int, tuple[int, int], float | None]:
    """``(n_frames, (W, H), fps)`` of a video file or frame folder without keeping the frames.

    Folders read only their first image (fps None: the caller's default applies); video files
    are decoded once to count frames exactly (container frame counts are unreliable).
    """
    source = Path(source)
    if source.is_dir():
        files = list_frame_files(source)
        first = read_image(files[0])
        n = len(files) if max_frames is None else min(len(files), max_frames)
        return n, (first.shape[1], first.shape[0]), None
    if not source.is_file():
        raise VideoError(f"video source {source} does not exist")
    n = 0
    size = (0, 0)
    try:
        fps = float(iio.immeta(source, plugin="pyav").get("fps") or 25.0)
        for frame in iio.imiter(source, plugin="pyav"):
            size = (frame.shape[1], frame.shape[0])
            n += 1
            if max_frames is not None and n >= max_frames:
                break
    except Exception as exc:
        raise VideoError(f"video {source} cannot be decoded: {exc}") from exc
    if n == 0:
        raise VideoError(f"video {source} contains no frames")
    return n, size, fps
