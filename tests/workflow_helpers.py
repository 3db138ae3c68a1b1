"""Helpers of the workflow tests: copy the workflow into a temp dir, run real Snakemake there
and read which jobs a dry run would schedule.

Tests run ``python -m snakemake`` as a subprocess in a copy of the workflow files, so the
repository's own ``results/`` and ``.snakemake/`` are never touched. ``smal4v`` is imported by
the jobs from the installed package or, failing that, from the repository (``PYTHONPATH``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ("Snakefile", "rules", "workflow_scripts", "config", "profiles", "resources", "envs", "report")
TEST_CONFIG = "config/test.yaml"
"""The tiny override config (its sheet: config/test_sequences.tsv)."""
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.tmp-*")


@dataclass(frozen=True)
class Job:
    """One job of a Snakemake dry run: its rule, wildcards and the other fields it prints."""

    rule: str
    wildcards: dict[str, str] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        """``(rule, sequence)``; the sequence is "" for jobs over all sequences."""
        return self.rule, self.wildcards.get("seq", "")

    @property
    def resources(self) -> dict[str, str]:
        """The ``resources:`` line as a dict (values as printed)."""
        items = [part.split("=", 1) for part in self.fields.get("resources", "").split(", ") if "=" in part]
        return {k.strip(): v.strip() for k, v in items}


def copy_workflow(dest: Path) -> Path:
    """Copy the workflow files (not results/, not .snakemake/) of the repository into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=_IGNORE)
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest


def clone_run(src: Path, dest: Path) -> Path:
    """Copy a finished workflow directory with its results and Snakemake metadata, keeping
    modification times (so Snakemake sees the copy exactly as up to date as the original)."""
    shutil.copytree(src, dest, symlinks=True, ignore=shutil.ignore_patterns("locks", "incomplete"))
    return dest


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env["SMAL4V_NO_PROGRESS"] = "1"
    return env


def snakemake(workdir: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``snakemake ARGS`` in ``workdir`` (the workflow's default profile applies); stdout
    and stderr are merged into ``.stdout``. Never raises on a failing run: tests check it."""
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=workdir,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )


def check(result: subprocess.CompletedProcess) -> str:
    """The output of a run that must have succeeded (the output is shown if it did not)."""
    assert result.returncode == 0, f"snakemake {result.args[3:]} failed ({result.returncode}):\n{result.stdout[-6000:]}"
    return result.stdout


_RULE_LINE = re.compile(r"^(?:local)?rule (\w+):\s*$")
_FIELD_LINE = re.compile(r"^\s{4}(\w+): (.*)$")


def dry_run_jobs(output: str) -> list[Job]:
    """The jobs a dry run printed: each ``rule NAME:`` block with its indented fields."""
    jobs: list[Job] = []
    rule: str | None = None
    fields: dict[str, str] = {}

    def close() -> None:
        if rule is not None:
            wc = dict(part.split("=", 1) for part in fields.get("wildcards", "").split(", ") if "=" in part)
            jobs.append(Job(rule, wc, dict(fields)))

    for line in output.splitlines():
        match = _RULE_LINE.match(line)
        if match:
            close()
            rule, fields = match.group(1), {}
            continue
        field_match = _FIELD_LINE.match(line)
        if rule is not None and field_match:
            fields[field_match.group(1)] = field_match.group(2)
        elif rule is not None and line and not line.startswith(" "):
            close()
            rule, fields = None, {}
    close()
    return jobs


_TOTAL_LINE = re.compile(r"^total\s+(\d+)\s*$", re.MULTILINE)


def scheduled(workdir: Path, *args: str) -> list[Job]:
    """Jobs that a dry run of the workflow in ``workdir`` (with ``args``) would run, checked
    against Snakemake's own job count (so a change of its output format cannot pass unseen)."""
    output = check(snakemake(workdir, "--dry-run", *args, timeout=180))
    jobs = dry_run_jobs(output)
    totals = _TOTAL_LINE.findall(output)
    if jobs or totals:
        assert totals and int(totals[-1]) == len(jobs), \
            f"parsed {len(jobs)} jobs, Snakemake counts {totals}:\n{output[-3000:]}"
    else:
        assert "Nothing to be done" in output, output[-3000:]
    return jobs


def job_counts(jobs: list[Job]) -> Counter:
    """How many jobs per ``(rule, sequence)``."""
    return Counter(job.key for job in jobs)


_RULE_HEADER = re.compile(r"^(?:use rule \w+ as (\w+) with|rule (\w+)):\s*$", re.MULTILINE)


def rule_blocks(workdir: Path = REPO) -> dict[str, str]:
    """The text of every rule in ``rules/*.smk`` by rule name (``use rule ... as NAME`` too)."""
    blocks: dict[str, str] = {}
    for path in sorted((workdir / "rules").glob("*.smk")):
        text = path.read_text()
        headers = list(_RULE_HEADER.finditer(text))
        for header, nxt in zip(headers, headers[1:] + [None]):
            blocks[header.group(1) or header.group(2)] = text[header.start():nxt.start() if nxt else len(text)]
    return blocks


def device_rules(workdir: Path = REPO) -> set[str]:
    """Rules that compute with torch on the configured device (their params carry ``device``):
    the ones that get a GPU on Slurm and the GPU conda env."""
    return {name for name, block in rule_blocks(workdir).items() if 'device=config["device"]' in block}


def in_ci() -> bool:
    """True in CI (``CI=true``), where a test that needs system packages must fail, not skip."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
