"""Benchmark of silhouette densification on the DAVIS camel and cows, tuned on one, scored on the other.

Run: ``python benchmarks/densify.py [--threads 2] [--frames N] [--parent MODEL]``. Writes
benchmarks/results/densify.md. For each video and each spacing of given masks (every 5th,
every 10th frame) the flows of neighbouring frames and one OSVOS fine-tuning are computed once
(OSVOS probabilities are cached under benchmarks/work/densify/, with the seconds they took);
every method and ablation below reuses them. The ``propagate`` constants (confidence decay,
prior weight, threshold) are chosen by a grid on one video (mean J over both spacings) and
scored on the other, in both directions. J, F: DAVIS region / boundary scores on the frames
whose mask was not given; J mid: on the frames farthest from a given mask (distance >= half
the spacing).

``--stride 3 --no-tune --out benchmarks/results/densify_fast_motion.md`` emulates fast motion
(every 3rd frame only) and scores both videos with the config's ``propagate`` settings.

Without ``--parent`` an OSVOS parent is trained on synthetic sequences and cached.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from smal4v.data import artifacts  # noqa: E402
from smal4v.data.video import read_frame_folder, read_video  # noqa: E402
from smal4v.evaluate.metrics import iou_per_frame, silhouette_scores  # noqa: E402
from smal4v.segment.combine import FusionParams, distance_to_given, fuse  # noqa: E402
from smal4v.segment.flow import densify_flow, densify_nearest  # noqa: E402
from smal4v.segment.multiflow import FlowBank  # noqa: E402
from smal4v.segment.osvos import OsvosParams, finetune, finish, predict, train_parent  # noqa: E402
from smal4v.segment.propagate import PropagateParams, fuse_and_finish, propagated_logits  # noqa: E402

WORK = ROOT / "benchmarks" / "work" / "densify"
DAVIS = ROOT.parent / "shared" / "data" / "badja-davis" / "DAVIS"
VIDEOS = ("camel", "cows")
SPACINGS = (5, 10)
GRID = {"step_decay": [0.8, 0.95], "prior_weight": [0.0, 0.5, 1.5], "threshold": [0.4, 0.5, 0.6]}
TUNE_SUBSAMPLE = 3  # the grid scores every 3rd missing frame and the middle of every gap
PRIOR_ON = 0.5  # the prior weight of the "+ segmenter prior" row when the chosen weight is 0


def ablations(chosen: PropagateParams) -> dict[str, dict]:
    """Leave-one-out variants of the chosen method (the prior is added instead when it was off)."""
    prior = ({"- segmenter prior": {"prior_weight": 0.0}} if chosen.prior_weight > 0
             else {f"+ segmenter prior (weight {PRIOR_ON})": {"prior_weight": PRIOR_ON}})
    return {"propagate (chosen)": {}, "- per-pixel confidence": {"confidence": False},
            "- multi-scale flow": {"scales": [1.0]}, **prior, "- boundary refinement": {"refine": "none"}}


def load_video(name: str, n: int | None, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Frames and true masks of a DAVIS video: every ``stride``-th frame (faster motion), the first ``n``."""
    frames = read_frame_folder(DAVIS / "JPEGImages" / "480p" / name).frames[::stride][:n]
    gt = read_frame_folder(DAVIS / "Annotations" / "480p" / name).frames[::stride][:n, ..., 0] > 127
    return frames, gt


def synthetic_parent(path: Path, threads: int) -> None:
    """Train the OSVOS parent on 8 synthetic sequences rendered by ``smal4v synth`` (cached)."""
    out = WORK / "train"
    if not (out / "synth007" / "ground_truth.h5").exists():
        subprocess.run([sys.executable, "-m", "smal4v", "synth", str(out), "--n-sequences", "8", "--seed", "1",
                        "--frames", "30", "--size", "160", "160"], check=True, cwd=ROOT)
    seqs = []
    for d in sorted(out.glob("synth*"))[:8]:
        gt = artifacts.read_artifact(d / "ground_truth.h5", "ground_truth", ["masks"])["masks"]
        seqs.append((read_video(d / "video.mp4").frames, gt))
    train_parent(seqs, path, {"threads": threads, "progress": False})


def given_every(n: int, every: int) -> np.ndarray:
    g = np.zeros(n, bool)
    g[::every] = True
    return g


def osvos_cached(name: str, frames: np.ndarray, gt: np.ndarray, every: int, po: OsvosParams, stride: int = 1) -> dict:
    """OSVOS probabilities (uint8) with the fine-tuning and inference seconds (cached on disk)."""
    key = f"{name}{'' if stride == 1 else f'_stride{stride}'}_{len(frames)}_{every}_{po.iterations}_{po.work_max_side}_{po.batch_size}_{Path(po.parent).stem}"
    path = WORK / f"osvos_{key}.npz"
    if not path.exists():
        given = given_every(len(frames), every)
        sparse = np.where(given[:, None, None], gt, False)
        torch.manual_seed(po.seed)
        t0 = time.perf_counter()
        net, shift = finetune(frames, sparse, given, po)
        t1 = time.perf_counter()
        prob = predict(net, frames, po, shift)
        t2 = time.perf_counter()
        np.savez_compressed(path, prob=np.rint(prob * 255).astype(np.uint8), finetune_s=t1 - t0, infer_s=t2 - t1,
                            threads=torch.get_num_threads())
    z = np.load(path)
    return {"prob": z["prob"].astype(np.float32) / 255, "finetune_s": float(z["finetune_s"]),
            "infer_s": float(z["infer_s"])}


def scores(masks: np.ndarray, gt: np.ndarray, given: np.ndarray, every: int, with_f: bool = True,
           scored: np.ndarray | None = None) -> dict:
    other = ~given if scored is None else scored
    mid = other & (distance_to_given(given) >= every // 2)
    s = silhouette_scores(masks, gt, other) if with_f else {"J": float(np.mean(iou_per_frame(masks[other], gt[other])))}
    s["Jmid"] = float(np.mean(iou_per_frame(masks[mid], gt[mid])))
    return s


class Video:
    """One video's frames, ground truth, shared flows and OSVOS probabilities per spacing."""

    def __init__(self, name: str, n: int | None, po: OsvosParams, flow_params: dict, stride: int = 1):
        self.name = name if stride == 1 else f"{name} at {stride}x speed"
        self.frames, self.gt = load_video(name, n, stride)
        base = PropagateParams.from_any({"flow": flow_params, "progress": False})
        self.bank = FlowBank(self.frames, base.flow_params())
        t0 = time.perf_counter()
        for t in range(len(self.frames) - 1):  # every pair of neighbours, both ways, at every scale
            self.bank.flow(t, t + 1)
            self.bank.flow(t + 1, t)
        self.flow_s = time.perf_counter() - t0
        self.osvos = {e: osvos_cached(name, self.frames, self.gt, e, po, stride) for e in SPACINGS}
        self._logits: dict[tuple, tuple[np.ndarray, float]] = {}

    def case(self, every: int) -> tuple[np.ndarray, np.ndarray]:
        given = given_every(len(self.frames), every)
        return given, np.where(given[:, None, None], self.gt, False)

    def logits(self, every: int, p: PropagateParams) -> tuple[np.ndarray, float]:
        """Propagated log-odds for spacing ``every`` and the seconds they took (cached per setting)."""
        key = (every, p.confidence, p.step_decay, tuple(p.flow_params().scales))
        if key not in self._logits:
            given, sparse = self.case(every)
            t0 = time.perf_counter()
            logits = propagated_logits(self.bank.with_scales(list(key[3])), sparse, given, p, keep_flows=True)
            self._logits[key] = (logits, time.perf_counter() - t0)
        return self._logits[key]

    def run(self, every: int, p: PropagateParams, with_f: bool = True, subsample: int = 1) -> dict:
        """Score one setting; ``subsample`` > 1 computes and scores only every so many missing
        frames (plus the middle of each gap), for a quicker grid search."""
        given, sparse = self.case(every)
        logits, t_prop = self.logits(every, p)
        t = np.arange(len(given))
        scored = (~given) & ((t % subsample == 0) | (distance_to_given(given) >= every // 2))
        t0 = time.perf_counter()
        prior = self.osvos[every]["prob"] if p.prior_weight > 0 else None
        masks, _ = fuse_and_finish(self.frames, sparse, ~scored, logits, prior, p)  # others are skipped
        return {**scores(masks, self.gt, given, every, with_f, scored), "fuse_s": t_prop + time.perf_counter() - t0}


def with_setting(p: PropagateParams, change: dict) -> PropagateParams:
    change = dict(change)
    if "scales" in change:
        change["flow"] = {**p.flow, "scales": change.pop("scales")}
    return dataclasses.replace(p, **change)


def tune(video: Video, base: PropagateParams) -> tuple[dict, list]:
    """Grid search of GRID on ``video``: mean J over the spacings (no F, a subsample of frames: faster)."""
    trials = []
    for values in itertools.product(*GRID.values()):
        change = dict(zip(GRID, values))
        p = with_setting(base, change)
        j = float(np.mean([video.run(e, p, with_f=False, subsample=TUNE_SUBSAMPLE)["J"] for e in SPACINGS]))
        trials.append((j, change))
        print(f"tune on {video.name}: {change} J {j:.4f}", flush=True)
    best = max(trials, key=lambda r: r[0])
    return best[1], trials


def report(video: Video, chosen: PropagateParams, po: OsvosParams) -> list[dict]:
    """Every method and ablation on ``video`` with the constants chosen on the other one."""
    rows = []
    n = len(video.frames)
    for every in SPACINGS:
        given, sparse = video.case(every)
        os_ = video.osvos[every]
        t0 = time.perf_counter()
        m_flow, flow_u8 = densify_flow(video.frames, sparse, given, {"progress": False})
        t_old_flow = time.perf_counter() - t0
        old_fused = fuse(os_["prob"], flow_u8.astype(np.float32) / 255, given, FusionParams())
        tune_s, infer_s = os_["finetune_s"], os_["infer_s"]
        rows += [
            {"method": "nearest", **scores(densify_nearest(video.gt, given)[0], video.gt, given, every)},
            {"method": "flow", **scores(m_flow, video.gt, given, every), "total": t_old_flow},
            {"method": "osvos", **scores(finish(os_["prob"], sparse, given, po.mask_params())[0], video.gt, given, every),
             "total": tune_s + infer_s},
            {"method": "osvos+flow", **scores(finish(old_fused, sparse, given, po.mask_params())[0], video.gt, given, every),
             "total": tune_s + infer_s + t_old_flow},
        ]
        variants = ablations(chosen)
        for name, change in variants.items():
            r = video.run(every, with_setting(chosen, change))
            uses_prior = with_setting(chosen, change).prior_weight > 0
            split = {"finetune": tune_s if uses_prior else 0.0, "infer": infer_s if uses_prior else 0.0,
                     "flow": video.flow_s, "fuse": r["fuse_s"]}
            rows.append({"method": name, **r, **split, "total": sum(split.values())})
        for r in rows[-4 - len(variants):]:
            r["case"] = f"{video.name}, every {every}"
            r["n"] = n
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parent", help="OSVOS parent model (default: train one on synthetic videos, cached)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--frames", type=int, default=None, help="use only the first frames of each video")
    ap.add_argument("--iterations", type=int, default=None, help="OSVOS fine-tuning steps (default: config.yaml's)")
    ap.add_argument("--osvos-side", type=int, default=None, help="OSVOS working size (default: config.yaml's)")
    ap.add_argument("--stride", type=int, default=1, help="keep every k-th frame: k times faster motion")
    ap.add_argument("--no-tune", action="store_true", help="score both videos with the config's propagate settings")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "densify.md"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cv2.setNumThreads(a.threads)
    WORK.mkdir(parents=True, exist_ok=True)
    parent = Path(a.parent) if a.parent else WORK / "parent.pt"
    if not parent.exists():
        synthetic_parent(parent, a.threads)
    import yaml

    sil = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["silhouettes"]
    osvos_cfg = {**sil.get("osvos", {}), "parent": str(parent), "threads": a.threads, "progress": False}
    osvos_cfg.update({k: v for k, v in (("iterations", a.iterations), ("work_max_side", a.osvos_side)) if v})
    po = OsvosParams.from_any(osvos_cfg)
    base = PropagateParams.from_any({**sil.get("propagate", {}), "progress": False})
    videos = {v: Video(v, a.frames, po, base.flow, a.stride) for v in VIDEOS}
    sections = []
    for tuned_on, scored_on in ((VIDEOS[0], VIDEOS[1]), (VIDEOS[1], VIDEOS[0])):
        change, trials = ({}, []) if a.no_tune else tune(videos[tuned_on], base)
        chosen = with_setting(base, change)
        rows = report(videos[scored_on], chosen, po)
        sections.append((tuned_on, scored_on, change, trials, rows))
        write_report(a, sections, po, base)


def fmt(x: float | None, digits: int = 3) -> str:
    return "" if x is None else f"{x:.{digits}f}"


def write_report(a: argparse.Namespace, sections: list, po: OsvosParams, base: PropagateParams) -> None:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown cpu")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    load = os.getloadavg()[0]
    lines = [
        "# Silhouette densification benchmark: tuned on one DAVIS video, scored on the other" if a.stride == 1 else
        f"# Silhouette densification under fast motion: camel and cows at {a.stride}x speed (one frame in {a.stride} kept)",
        "",
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}, git commit {commit} (+ working tree)",
        f"- machine: {cpu}, {a.threads} torch/OpenCV threads (os cpu count {os.cpu_count()}), torch {torch.__version__}; "
        f"load average {load:.1f} at the end: the machine is shared with other jobs, so all times are upper bounds",
        f"- command: `{' '.join(['python benchmarks/densify.py', *sys.argv[1:]])}`",
        f"- OSVOS (prior of `propagate`, and the `osvos`, `osvos+flow` rows): parent `{Path(po.parent).name}` "
        f"(synthetic videos only), {po.iterations} fine-tuning steps of batch {po.batch_size} on all given masks "
        f"at longer side {po.work_max_side} px; `osvos`/`osvos+flow` keep their earlier constants "
        f"(threshold {po.threshold}, fusion tau 10, w_max 0.75, chosen on camel before).",
        f"- propagate flow: {base.flow_params()}",
        f"- grid on the tuning video (mean J over every 5th and every 10th; every {TUNE_SUBSAMPLE}rd missing frame "
        f"and the middle of each gap): {GRID}",
        "- J, F on the frames whose mask was not given; J mid on those at distance >= half the spacing from a "
        "given mask (the middle of each gap).",
        "- seconds are per frame of the video (all frames): fine-tuning, OSVOS inference, flow (all neighbouring "
        "pairs, both ways, all scales), propagation + fusion + refinement.", "",
    ]
    for tuned_on, scored_on, change, trials, rows in sections:
        chosen = (f"Chosen on {tuned_on}: `{change}` (J {max(t[0] for t in trials):.4f} there)." if trials else
                  f"Not tuned: the config's settings `{dataclasses.asdict(base)}`.")
        lines += [f"## Tuned on {tuned_on}, scored on {scored_on}" if trials else f"## {scored_on}", "", chosen, "",
                  "| case | method | J | F | J mid | fine-tune s/fr | infer s/fr | flow s/fr | fuse s/fr | total s/fr |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            per = {k: (r[k] / r["n"] if k in r else None) for k in ("finetune", "infer", "flow", "fuse", "total")}
            lines.append(f"| {r['case']} | {r['method']} | {r['J']:.4f} | {r['F']:.4f} | {r['Jmid']:.4f} | "
                         + " | ".join(fmt(per[k]) for k in ("finetune", "infer", "flow", "fuse", "total")) + " |")
        lines.append("")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {a.out}", flush=True)


if __name__ == "__main__":
    main()
