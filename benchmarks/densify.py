"""Benchmark of silhouette densification: flow, osvos and osvos+flow (and the copy-nearest baseline).

Run: ``python benchmarks/densify.py [--parent MODEL] [--threads 2] [--quick]``. Writes
benchmarks/results/densify.md. Cases: the DAVIS camel (90 frames, 854x480, read from
../shared/data/badja-davis) with masks given every 5th and every 10th frame, and synthetic
sequences rendered by ``smal4v synth`` (masks every 5th frame). J and F are scored on the
frames whose mask was not given. ``osvos`` and ``osvos+flow`` share one fine-tuned network per
case (the methods are deterministic given the seed, so this equals running both).

Without ``--parent`` a parent is trained on synthetic training sequences (other seeds than
the scored ones) and cached under benchmarks/work/densify/.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from smal4v.data import artifacts  # noqa: E402
from smal4v.data.video import read_frame_folder, read_video  # noqa: E402
from smal4v.evaluate.metrics import silhouette_scores  # noqa: E402
from smal4v.segment.combine import FusionParams, fuse  # noqa: E402
from smal4v.segment.flow import densify_flow, densify_nearest  # noqa: E402
from smal4v.segment.osvos import OsvosParams, finetune, finish, predict, train_parent  # noqa: E402

WORK = ROOT / "benchmarks" / "work" / "densify"
CAMEL = ROOT.parent / "shared" / "data" / "badja-davis" / "DAVIS"


def load_camel() -> tuple[np.ndarray, np.ndarray]:
    frames = read_frame_folder(CAMEL / "JPEGImages" / "480p" / "camel").frames
    gt = read_frame_folder(CAMEL / "Annotations" / "480p" / "camel").frames[..., 0] > 127
    return frames, gt


def synth(out: Path, n: int, seed: int, frames: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Render ``n`` synthetic sequences with ``smal4v synth`` (cached) -> [(name, frames, masks)]."""
    if not (out / f"synth{n - 1:03d}" / "ground_truth.h5").exists():
        subprocess.run([sys.executable, "-m", "smal4v", "synth", str(out), "--n-sequences", str(n), "--seed",
                        str(seed), "--frames", str(frames), "--size", "160", "160"], check=True, cwd=ROOT)
    seqs = []
    for d in sorted(out.glob("synth*"))[:n]:
        gt = artifacts.read_artifact(d / "ground_truth.h5", "ground_truth", ["masks"])["masks"]
        seqs.append((f"synthetic {d.name}", read_video(d / "video.mp4").frames, gt))
    return seqs


def run_case(name: str, frames: np.ndarray, gt: np.ndarray, every: int, po: OsvosParams, pf: dict,
             fusion: FusionParams) -> list[dict]:
    given = np.zeros(len(frames), bool)
    given[::every] = True
    sparse = np.where(given[:, None, None], gt, False)
    n, other = len(frames), ~given
    rows = []

    def row(method: str, masks: np.ndarray, total: float, after: float | None, tune: float | None) -> None:
        s = silhouette_scores(masks, gt, other)
        rows.append({"case": f"{name}, mask every {every}", "method": method, "J": s["J"], "F": s["F"],
                     "s_per_frame": total / n, "after_ft": None if after is None else after / n,
                     "finetune_s": tune})
        print(f"{name} every {every}: {method:10s} J {s['J']:.4f} F {s['F']:.4f} {total / n:.3f} s/frame", flush=True)

    row("nearest", densify_nearest(gt, given)[0], 0.0, None, None)
    t0 = time.perf_counter()
    m_flow, flow_u8 = densify_flow(frames, sparse, given, pf)
    t_flow = time.perf_counter() - t0
    row("flow", m_flow, t_flow, None, None)
    t0 = time.perf_counter()
    net, shift = finetune(frames, sparse, given, po)
    t_tune = time.perf_counter() - t0
    t0 = time.perf_counter()
    p_osvos = predict(net, frames, po, shift)
    m_osvos = finish(p_osvos, sparse, given, po.mask_params())[0]
    t_pred = time.perf_counter() - t0
    row("osvos", m_osvos, t_tune + t_pred, t_pred, t_tune)
    t0 = time.perf_counter()
    m_fused = finish(fuse(p_osvos, flow_u8.astype(np.float32) / 255, given, fusion), sparse, given,
                     po.mask_params())[0]
    t_fuse = time.perf_counter() - t0
    row("osvos+flow", m_fused, t_tune + t_pred + t_flow + t_fuse, t_pred + t_flow + t_fuse, t_tune)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parent", help="OSVOS parent model (default: train one, cached in benchmarks/work)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=None, help="fine-tuning steps (default: OsvosParams)")
    ap.add_argument("--quick", action="store_true", help="camel every 5th + one synthetic sequence only")
    ap.add_argument("--no-camel", action="store_true", help="synthetic sequences only")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "densify.md"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    WORK.mkdir(parents=True, exist_ok=True)
    parent = a.parent
    t_parent = None
    if parent is None:
        parent = str(WORK / "parent.pt")
        if not Path(parent).exists():
            t0 = time.perf_counter()
            train = synth(WORK / "train", 8, 1, 30)
            train_parent([(f, m) for _, f, m in train], parent, {"threads": a.threads})
            t_parent = time.perf_counter() - t0
    po = OsvosParams(parent=parent, threads=a.threads, progress=False,
                     **({"iterations": a.iterations} if a.iterations else {}))
    pf = {"progress": False}
    fusion = FusionParams()
    rows: list[dict] = []
    if CAMEL.is_dir() and not a.no_camel:
        frames, gt = load_camel()
        for every in (5,) if a.quick else (5, 10):
            rows += run_case("camel", frames, gt, every, po, pf, fusion)
            write_report(a, rows, po, fusion, parent, t_parent)  # after each case: partial results survive
    elif not a.no_camel:
        print(f"camel data not found at {CAMEL}; skipped")
    for name, frames, gt in synth(WORK / "test", 1 if a.quick else 3, 1000, 40):
        rows += run_case(name, frames, gt, 5, po, pf, fusion)
        write_report(a, rows, po, fusion, parent, t_parent)


def write_report(a: argparse.Namespace, rows: list[dict], po: OsvosParams, fusion: FusionParams, parent: str,
                 t_parent: float | None) -> None:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    lines = [
        "# Silhouette densification benchmark", "",
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"- machine: {cpu}, {torch.get_num_threads()} torch threads (os cpu count {os.cpu_count()}), "
        f"torch {torch.__version__}; shared with other jobs, so times are noisy upper bounds",
        f"- command: `{' '.join(['python benchmarks/densify.py', *sys.argv[1:]])}`",
        f"- OSVOS: parent `{Path(parent).name}`" + (f" (trained here in {t_parent:.0f} s)" if t_parent else "")
        + f", {po.iterations} fine-tuning steps of batch {po.batch_size} at longer side {po.work_max_side} px, "
        f"refine {po.refine}, threshold {po.threshold}; fusion tau {fusion.tau}, w_max {fusion.w_max}",
        "- J, F: DAVIS region / boundary scores on the frames whose mask was not given.",
        "- s/frame: whole method (fine-tuning included) / frames; after fine-tuning: inference"
        " (+ flow and fusion) / frames.", "",
        "| case | method | J | F | s/frame | s/frame after fine-tuning | fine-tuning s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        after = "" if r["after_ft"] is None else f"{r['after_ft']:.3f}"
        tune = "" if r["finetune_s"] is None else f"{r['finetune_s']:.0f}"
        lines.append(f"| {r['case']} | {r['method']} | {r['J']:.4f} | {r['F']:.4f} | {r['s_per_frame']:.3f} | "
                     f"{after} | {tune} |")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
