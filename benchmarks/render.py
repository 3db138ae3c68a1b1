"""Benchmark of the soft silhouette renderer against deodr and the exact rasteriser.

Run: ``python benchmarks/render.py [--compile] [--threads 1 2] [--quick]``. Writes
benchmarks/results/render.md. Times: median of repeats after one warm-up. Memory: in a fresh
subprocess, after one warm-up fwd+bwd, RSS (/proc/self/statm) is sampled every 0.5 ms during a
second fwd+bwd; reported is peak minus the RSS just before it (tracemalloc misses torch, and
ru_maxrss is dominated by import-time peaks).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from smal4v.render import Camera, SoftSilhouetteRenderer, rasterize_hard  # noqa: E402


def load_mesh() -> tuple[torch.Tensor, torch.Tensor, str]:
    """Procedural model in rest pose if available, else an ellipsoid-ish closed mesh (~7.7k faces)."""
    try:
        from smal4v.model import load_model
        model = load_model("procedural")
        v = model.v_template.detach().double()
        f = model.faces.long()
        name = f"procedural model rest pose ({v.shape[0]} verts, {f.shape[0]} faces)"
        # model frame x forward, y left, z up -> side view: camera x = model x, y = -z, z = y
        v = torch.stack([v[:, 0], -v[:, 2], v[:, 1]], 1)
    except Exception as exc:  # noqa: BLE001
        import trimesh
        m = trimesh.creation.icosphere(subdivisions=5)
        m = m.simplify_quadric_decimation(face_count=7774) if hasattr(m, "simplify_quadric_decimation") else m
        v = torch.tensor(m.vertices) * torch.tensor([1.5, 0.6, 0.8])
        f = torch.tensor(m.faces, dtype=torch.long)
        name = f"fallback ellipsoid ({v.shape[0]} verts, {f.shape[0]} faces; procedural model unavailable: {exc!r:.60})"
    v = v - (v.amax(0) + v.amin(0)) / 2
    return v, f, name


def placed(v: torch.Tensor, size: int, batch: int) -> tuple[torch.Tensor, Camera]:
    """Place the mesh ~5 units in front so its larger extent fills ~60% of the image; jitter per item."""
    ext = float((v.amax(0) - v.amin(0))[:2].max())
    z = 5.0
    focal = 0.6 * size * z / ext
    g = torch.Generator().manual_seed(0)
    shift = torch.randn(batch, 1, 3, generator=g, dtype=v.dtype) * torch.tensor([0.02, 0.02, 0.05], dtype=v.dtype) * ext
    return (v + torch.tensor([0, 0, z], dtype=v.dtype) + shift).float(), Camera(focal, size)


def median_time(fn, repeats: int) -> float:
    fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def soft_fns(v, f, cam, size, compile_):
    rend = SoftSilhouetteRenderer(size, sigma=0.1, compile=compile_)
    w = torch.rand(v.shape[0], size, size)

    def fwd():
        with torch.no_grad():
            return rend(v, f, cam)

    def fwdbwd():
        x = v.clone().requires_grad_(True)
        (rend(x, f, cam) * w).sum().backward()
    return fwd, fwdbwd


def deodr_fns(v, f, cam, size, sigma: float = 0.1):
    """deodr (C++ CPU) silhouette: white mesh, ambient light 1, black background, edge
    antialiasing width ``sigma`` px, half-integer pixel centres (our convention), back-face
    culling on. deodr renders one image per scene, so a batch is a loop over prebuilt scenes;
    only the vertices change per call (as in a fitting loop)."""
    from deodr.pytorch import CameraPytorch, ColoredTriMeshPytorch, Scene3DPytorch
    fnp = f.numpy()
    k = np.array([[float(cam.focal), 0, size / 2], [0, float(cam.focal), size / 2], [0, 0, 1]])
    dcam = CameraPytorch(extrinsic=np.eye(3, 4), intrinsic=k, height=size, width=size)
    w = torch.rand(v.shape[0], size, size, 3, dtype=torch.float64)
    scenes = []
    for b in range(v.shape[0]):
        mesh = ColoredTriMeshPytorch(fnp, vertices=v[b].double(), colors=torch.ones(v.shape[1], 3, dtype=torch.float64))
        scene = Scene3DPytorch()
        scene.set_mesh(mesh)
        scene.set_background_color(np.zeros(3))
        scene.set_light(light_directional=torch.zeros(3, dtype=torch.float64), light_ambient=1.0)
        scene.sigma = sigma
        scene.integer_pixel_centers = False
        scenes.append(scene)

    def render(x):
        outs = []
        for b, scene in enumerate(scenes):
            scene.mesh.set_vertices(x[b])
            outs.append(scene.render(dcam))
        return torch.stack(outs)

    def fwd():
        with torch.no_grad():
            return render(v.double())

    def fwdbwd():
        x = v.double().clone().requires_grad_(True)
        (render(x) * w).sum().backward()
    return fwd, fwdbwd, lambda: render(v.double()).detach()[..., 0]


def iou(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a & b).sum() / (a | b).sum())


def peak_mem_mb(args: list[str]) -> float:
    out = subprocess.run([sys.executable, "-W", "ignore", __file__, "--memchild", *args],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["mb"]


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def memchild(kind: str, size: int, batch: int) -> None:
    """Peak RSS above the pre-call RSS during the second fwd+bwd (sampled every 0.5 ms)."""
    import threading
    torch.set_num_threads(1)
    v, f, _ = load_mesh()
    vb, cam = placed(v, size, batch)
    fns = {"soft": lambda: soft_fns(vb, f, cam, size, False)[1], "deodr": lambda: deodr_fns(vb, f, cam, size)[1]}
    fn = fns[kind]()
    fn()
    base, peak, done = _rss_mb(), [0.0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(0.0005)
    th = threading.Thread(target=sample)
    th.start()
    fn()
    done.set()
    th.join()
    print(json.dumps({"mb": max(peak[0], _rss_mb()) - base}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--compile", action="store_true", help="also time compile=True (slow first call)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--memchild", nargs=3)
    a = ap.parse_args()
    if a.memchild:
        memchild(a.memchild[0], int(a.memchild[1]), int(a.memchild[2]))
        return
    v, f, mesh_name = load_mesh()
    repeats = 3 if a.quick else 7
    rows = []
    for threads in a.threads:
        torch.set_num_threads(threads)
        for size in (64, 128, 224):
            for batch in (1, 8):
                vb, cam = placed(v, size, batch)
                exact = rasterize_hard(vb, f, cam)
                t = time.perf_counter()
                rasterize_hard(vb, f, cam)
                hard_t = time.perf_counter() - t
                modes = [False, True] if a.compile else [False]
                for comp in modes:
                    fwd, fb = soft_fns(vb, f, cam, size, comp)
                    if comp:
                        t = time.perf_counter(); fb(); first = time.perf_counter() - t
                    occ = fwd()
                    row = dict(threads=threads, size=size, batch=batch, method="soft compiled" if comp else "soft eager",
                               fwd=median_time(fwd, repeats), fwdbwd=median_time(fb, repeats),
                               iou=iou(occ > 0.5, exact), hard=hard_t)
                    if comp:
                        row["first_call"] = first
                    rows.append(row)
                try:
                    dfwd, dfb, dimg = deodr_fns(vb, f, cam, size)
                    rows.append(dict(threads=threads, size=size, batch=batch, method="deodr",
                                     fwd=median_time(dfwd, repeats), fwdbwd=median_time(dfb, repeats),
                                     iou=iou(dimg() > 0.5, exact), hard=hard_t))
                except Exception as exc:  # noqa: BLE001
                    print("deodr failed:", repr(exc))
                print(rows[-1], flush=True)
    mem = {}
    for kind in ("soft", "deodr"):
        try:
            mem[kind] = peak_mem_mb([kind, "128", "8"])
        except Exception as exc:  # noqa: BLE001
            mem[kind] = float("nan")
            print("memory", kind, "failed:", exc)
    write_report(rows, mem, mesh_name, " ".join(["python", *sys.argv]))


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def write_report(rows, mem, mesh_name, command) -> None:
    out = Path(__file__).resolve().parent / "results" / "render.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Soft silhouette renderer benchmark", "",
             f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
             f"- machine: {cpu_model()}, {__import__('os').cpu_count()} cores, torch {torch.__version__}",
             f"- command: `{command}`", f"- mesh: {mesh_name}; sigma 0.1 px; loss = sum(occ * fixed random weights)",
             "- times: median after one warm-up; hard = one exact `rasterize_hard` call (reference);",
             "  IoU: (image > 0.5) vs exact pixel-centre coverage. Machine shared with other jobs: noisy.",
             "- deodr: Scene3DPytorch, sigma 0.1, half-integer pixel centres, one prebuilt scene per batch item",
             "  (float64, its only dtype); its 0.5 level lies ~0.5 px outside on some edges (it extrudes",
             "  silhouette edges along an image axis), hence its lower IoU.", "",
             "| threads | px | batch | method | fwd ms | fwd+bwd ms | IoU | hard ms | fwd+bwd / deodr |",
             "|---|---|---|---|---|---|---|---|---|"]
    ref = {(r["threads"], r["size"], r["batch"]): r["fwdbwd"] for r in rows if r["method"] == "deodr"}
    for r in rows:
        d = ref.get((r["threads"], r["size"], r["batch"]))
        ratio = f"{r['fwdbwd'] / d:.2f}" if d else "-"
        extra = f" (first call {r['first_call']:.1f} s)" if "first_call" in r else ""
        lines.append(f"| {r['threads']} | {r['size']} | {r['batch']} | {r['method']}{extra} | {r['fwd']*1e3:.1f} | "
                     f"{r['fwdbwd']*1e3:.1f} | {r['iou']:.4f} | {r['hard']*1e3:.0f} | {ratio} |")
    lines += ["", f"Peak RSS added during one fwd+bwd at 128 px, batch 8, 1 thread (sampled): "
              f"soft {mem.get('soft', float('nan')):.1f} MB, deodr {mem.get('deodr', float('nan')):.1f} MB.", ""]
    out.write_text("\n".join(lines))
    print(out.read_text())


if __name__ == "__main__":
    main()
