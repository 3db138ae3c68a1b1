"""Benchmark: is the workflow deterministic? Two clean runs of one config, every artifact compared.

    python benchmarks/determinism.py [--configfile config/test.yaml] [--cores 2] [--load 0]

Runs ``snakemake --cores N --configfile CONFIG`` twice into ``benchmarks/work/determinism/{a,b}``
(the second optionally beside ``--load`` busy-looping processes, since the load is what changed
between the two demo runs that first showed a difference) and compares every dataset of every
HDF5 artifact and the metrics table bit for bit. Writes ``benchmarks/results/determinism.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo import machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "work" / "determinism"


def _busy() -> None:
    while True:
        pass


def run(configfile: str, cores: int, results: Path, load: int) -> None:
    """One clean workflow run into ``results``, with ``load`` busy processes beside it."""
    shutil.rmtree(results, ignore_errors=True)
    hogs = [mp.Process(target=_busy, daemon=True) for _ in range(load)]
    for h in hogs:
        h.start()
    try:
        subprocess.run([sys.executable, "-m", "snakemake", "--cores", str(cores), "--configfile", configfile,
                        "--config", f"results={results}"], cwd=ROOT, check=True, capture_output=True)
    finally:
        for h in hogs:
            h.terminate()


def h5_datasets(path: Path) -> dict[str, np.ndarray]:
    """Every dataset of an HDF5 file by name."""
    out: dict[str, np.ndarray] = {}
    with h5py.File(path) as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def _same(x: np.ndarray, y: np.ndarray) -> bool:
    """Bit-for-bit equal arrays (NaN equal to NaN: missing boxes are stored as NaN)."""
    return x.shape == y.shape and np.array_equal(x, y, equal_nan=x.dtype.kind == "f")


def compare(a: Path, b: Path) -> tuple[int, list[str]]:
    """(number of files compared, 'file: datasets' of those that differ) over HDF5 + metrics.csv."""
    differ, n = [], 0
    for fa in sorted(a.rglob("*.h5")):
        fb = b / fa.relative_to(a)
        n += 1
        if not fb.exists():
            differ.append(f"{fa.relative_to(a)}: missing in the second run")
            continue
        da, db = h5_datasets(fa), h5_datasets(fb)
        bad = [k for k in da if k not in db or not _same(da[k], db[k])]
        if bad:
            differ.append(f"{fa.relative_to(a)}: {', '.join(bad)}")
    metrics = Path("summary") / "metrics.csv"
    n += 1
    if (a / metrics).read_text() != (b / metrics).read_text():
        differ.append(f"{metrics}: values differ")
    return n, differ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--configfile", default="config/test.yaml")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--load", type=int, default=0, help="busy processes beside the second run")
    args = parser.parse_args()
    a, b = WORK / "a", WORK / "b"
    run(args.configfile, args.cores, a, 0)
    run(args.configfile, args.cores, b, args.load)
    n, differ = compare(a, b)
    command = f"python benchmarks/determinism.py --configfile {args.configfile} --cores {args.cores} --load {args.load}"
    lines = ["# Determinism", "", f"- date: {dt.datetime.now().isoformat(timespec='seconds')}",
             f"- machine: {machine()}", f"- command: `{command}`",
             f"- two clean runs of `snakemake --cores {args.cores} --configfile {args.configfile}`; the second "
             f"beside {args.load} busy-looping processes", f"- files compared (every HDF5 dataset, metrics.csv): {n}",
             f"- files that differ: {len(differ)}", ""]
    lines += [f"  - {d}" for d in differ] or ["Every artifact is bit-identical between the two runs."]
    out = ROOT / "benchmarks" / "results" / "determinism.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
