"""Peak memory and time per stage on a long 1080p video: is memory flat in the number of frames?

Writes a synthetic 1920x1080 video (a bright animal-sized ellipse walking over a textured
background) with sparse mask annotations, then runs each stage in its own process and records
its wall time and peak resident memory (``ru_maxrss``):

* ``extract``: :func:`smal4v.data.frames.extract_frames` (decode, crop, write ``frames.h5``),
  streamed frame by frame;
* ``extract_before``: the same call with ``smal4v/data/frames.py`` of commit ``BEFORE``, which
  decoded the whole video into memory first (for comparison);
* ``densify``: :func:`smal4v.segment.densify.densify_sequence` with ``method: flow`` (reads every
  frame into memory: not streamed; measured on shorter lengths).

Measurements are kept beside the inputs (``--work``), so a later call with more lengths reuses them.

    python benchmarks/long_video.py --frames 300 1000 3000 --densify-frames 30 60 --before-frames 300
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

W, H, FPS = 1920, 1080, 25
MASK_EVERY = 25
BEFORE = "3ba4ff4"  # the last commit whose extract_frames decoded the whole video into memory


def _scene(t: int, yy: np.ndarray, xx: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frame t (H, W, 3) uint8 and the ellipse's mask (H, W)."""
    cx = 300 + (t * 7) % (W - 600)
    cy = H / 2 + 80 * np.sin(t / 20)
    mask = ((xx - cx) / 260.0) ** 2 + ((yy - cy) / 150.0) ** 2 < 1
    frame = background.copy()
    frame[mask] = (210, 170, 120)
    return frame, mask


def make_inputs(directory: Path, n: int) -> tuple[Path, Path]:
    """Write ``video.mp4`` (n frames, encoded one frame at a time) and ``annotations.h5`` (every
    MASK_EVERY-th mask given, written one frame at a time) into ``directory``."""
    from smal4v.data import artifacts

    directory.mkdir(parents=True, exist_ok=True)
    video, annotations = directory / "video.mp4", directory / "annotations.h5"
    if video.is_file() and annotations.is_file():
        return video, annotations
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:H, :W].astype(np.float32)
    background = np.clip(rng.normal(90, 25, (H // 8, W // 8, 3)), 0, 255).astype(np.uint8).repeat(8, 0).repeat(8, 1)
    given = np.arange(n) % MASK_EVERY == 0
    with av.open(str(video), mode="w") as container, artifacts.artifact_writer(annotations, "annotations") as ann:
        stream = container.add_stream("libx264", rate=Fraction(FPS))
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"crf": "23", "preset": "ultrafast"}
        for t in range(n):
            frame, mask = _scene(t, yy, xx, background)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            ann.append("masks", mask & given[t])
        container.mux(stream.encode(None))
        ann.write("keypoints", np.zeros((n, 1, 3), np.float32))
        ann.write("keypoint_split", np.zeros(n, np.uint8))
        ann.write("masks_given", given)
        ann.attrs.update({"keypoint_set": "none", "keypoint_names": ["centre"]})
    return video, annotations


def run_stage(stage: str, directory: Path) -> dict[str, float]:
    """One stage in this process; returns its wall time (s) and this process's peak RSS (MB)."""
    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    if stage == "extract":
        from smal4v.data.frames import extract_frames

        extract_frames(directory / "video.mp4", directory / "frames.h5", crop_size=224, margin=1.25,
                       bbox_source=directory / "annotations.h5")
    elif stage == "extract_before":  # the same call with frames.py of the commit before streaming
        source = subprocess.run(["git", "show", f"{BEFORE}:smal4v/data/frames.py"], capture_output=True, text=True,
                                check=True).stdout
        namespace: dict = {"__name__": "frames_before"}
        exec(compile(source, f"{BEFORE}:smal4v/data/frames.py", "exec"), namespace)
        namespace["extract_frames"](directory / "video.mp4", directory / "frames_before.h5", crop_size=224,
                                    margin=1.25, bbox_source=directory / "annotations.h5")
    elif stage == "densify":
        from smal4v.segment.densify import densify_sequence

        densify_sequence(directory / "frames.h5", directory / "annotations.h5", directory / "silhouettes.h5",
                         {"method": "flow", "flow": {"progress": False}})
    else:
        raise ValueError(f"unknown stage {stage!r}")
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure(stage: str, directory: Path) -> dict[str, float]:
    """Run ``stage`` in a fresh process (so peaks do not mix) and return its numbers; kept in
    ``<directory>/<stage>.json`` so a later call with more lengths reuses them."""
    cached = directory / f"{stage}.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SMAL4V_NO_PROGRESS": "1"}
    out = subprocess.run([sys.executable, __file__, "--stage", stage, "--dir", str(directory)], env=env,
                         check=True, capture_output=True, text=True)
    cached.write_text(out.stdout.strip().splitlines()[-1])
    return json.loads(cached.read_text())


def _machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def report(rows: list[tuple[str, int, dict[str, float]]], command: str) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "smal4v"], capture_output=True, text=True).stdout.strip()
    lines = [
        "# Long 1080p video: peak memory and time per stage",
        "",
        f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; machine: {_machine()}",
        f"- commit: {commit}{' + uncommitted changes in smal4v/ (issue 16 work)' if dirty else ''}",
        f"- command: `{command}`",
        f"- video: synthetic {W}x{H} at {FPS} fps (libx264), a mask given every {MASK_EVERY} frames; each stage "
        "runs in its own process, peak = that process's maximum resident set size",
        "",
        "| stage | frames | seconds | s / frame | peak RSS (MB) | raw frames (MB) |",
        "|---|---|---|---|---|---|",
    ]
    for stage, n, m in rows:
        lines.append(f"| {stage} | {n} | {m['seconds']:.1f} | {m['seconds'] / n:.3f} | {m['peak_rss_mb']:.0f} | "
                     f"{n * W * H * 3 / 2**20:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[300, 1000, 3000], help="video lengths for extract")
    parser.add_argument("--densify-frames", type=int, nargs="*", default=[30, 60], help="lengths for densify")
    parser.add_argument("--before-frames", type=int, nargs="*", default=[300],
                        help=f"lengths for extract with the in-memory extract_frames of {BEFORE}")
    parser.add_argument("--work", type=Path, default=Path("/tmp/smal4v_long_video"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/long_video.md"))
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:  # child process
        print(json.dumps(run_stage(args.stage, args.dir)))
        return
    rows = []
    for n in sorted(set(args.frames) | set(args.densify_frames) | set(args.before_frames)):
        directory = args.work / f"n{n}"
        make_inputs(directory, n)
        stages = ["extract"] + (["extract_before"] if n in args.before_frames else []) + \
            (["densify"] if n in args.densify_frames else [])
        for stage in stages:
            rows.append((stage, n, measure(stage, directory)))
            print(stage, n, rows[-1][2], flush=True)
    rows.sort(key=lambda r: (["extract", "extract_before", "densify"].index(r[0]), r[1]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(rows, "python " + " ".join(sys.argv)))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
