"""What the benchmarks share: the machine line, a timed Snakemake run, per-rule times, writing the report."""

from __future__ import annotations

import datetime as dt
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def machine() -> str:
    """CPU model, core count, Python and torch versions."""
    import torch

    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}"


def git_commit() -> str:
    """The checkout's commit (with ``+dirty`` when it has uncommitted changes)."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True).stdout
    return head + ("+dirty" if dirty.strip() else "")


def write_report(out: str | Path, lines: list[str]) -> None:
    """Write a benchmark's markdown ``lines`` to ``out`` (relative to the repository) and print them."""
    (ROOT / out).write_text("\n".join(lines))
    print("\n".join(lines))


def run_snakemake(command: list[str], log_path: Path) -> tuple[float, float, str]:
    """Run ``command`` (``snakemake ...``, with this interpreter's Snakemake) in the repository;
    return (wall seconds, the largest job RSS in MB so far, the log); the log is also written to
    ``log_path``. Raises SystemExit when Snakemake fails."""
    if command[0] == "snakemake":
        command = [sys.executable, "-m", "snakemake", *command[1:]]
    t0 = time.time()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.time() - t0
    log = proc.stdout + proc.stderr
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text(log)
    if proc.returncode != 0:
        raise SystemExit(f"snakemake failed ({proc.returncode}); see {log_path}")
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, log


def rule_times(log: str) -> pd.DataFrame:
    """Per-rule summed wall time from the Snakemake log's start/finish timestamps."""
    started: dict[str, tuple[str, dt.datetime]] = {}
    rows, stamp, rule = [], None, None
    for line in log.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            stamp = dt.datetime.strptime(line[1:-1], "%a %b %d %H:%M:%S %Y")
        elif line.startswith(("rule ", "localrule ")):
            rule = line.split()[1].rstrip(":")
        elif line.startswith("jobid:") and rule and stamp:
            started[line.split()[1]] = (rule, stamp)
        elif line.startswith("Finished jobid:") and stamp:
            jobid = line.split()[2]
            if jobid in started:
                name, t0 = started.pop(jobid)
                rows.append((name, (stamp - t0).total_seconds()))
    table = pd.DataFrame(rows, columns=["rule", "seconds"])
    return table.groupby("rule").agg(jobs=("seconds", "size"), total_s=("seconds", "sum"), max_s=("seconds", "max")).reset_index()


def mean_and_spread(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Cell-wise ``mean ± std`` (3 decimals) of same-shaped tables, one per run; the mean alone
    for one run."""
    stacked = pd.concat(tables, keys=range(len(tables)))
    mean, std = stacked.groupby(level=1, sort=False).mean(), stacked.groupby(level=1, sort=False).std(ddof=1)
    shown = mean.map(lambda v: f"{v:.3f}")
    if len(tables) > 1:
        shown = mean.combine(std, lambda m, s: m.map(lambda v: f"{v:.3f}") + " ± " + s.map(lambda v: f"{v:.3f}"))
    return shown


def report_header(title: str, command: str, note: str = "") -> list[str]:
    """A benchmark report's first lines: the title, date and commit, machine, command and an optional note."""
    return [f"# {title}", "", f"- date: {dt.datetime.now().isoformat(timespec='seconds')}, commit {git_commit()}",
            f"- machine: {machine()}", f"- command: `{command}`", "", *([note, ""] if note else [])]
