"""The tiny workflow (config/test.yaml) through ``--profile profiles/slurm`` on a real Slurm.

A single-node cluster (tests/slurm_cluster.py: Debian's slurm-wlm + munge, started by hand)
reruns, through ``sbatch``, one job of each kind of device work (base and online training,
densification, prediction, refinement) from the inputs of the session's complete local run: the
jobs are split into groups where none is upstream of another, each group reruns in its own copy
of the local run, and all are submitted at once (a chain of dependent Slurm jobs would cost the
plugin's growing status-check interval per link). Every device rule reaches sbatch the same way
(its ``set-resources`` entry in the profile); that each one asks for a GPU there is checked on the
profile's dry run (tests/test_workflow_lint.py), so the other rules' jobs are left out to keep
the test affordable (each Slurm job starts Snakemake twice). While the run goes, the first
``predict`` job is killed with ``scancel``; the profile's ``retries: 1`` must resubmit it. The
rerun outputs must equal, bit for bit, the local run's (same thread counts), and every job's
memory, time limit and GPU request must be what the rule asks (read back from ``scontrol show job``).

Without the Slurm binaries the module is skipped, except in CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np
import pytest

from slurm_cluster import SlurmCluster, missing_binaries, start_cluster, system_config_conflict
from workflow_helpers import TEST_CONFIG, Job, check, clone_run, device_rules, in_ci, scheduled, snakemake

pytestmark = pytest.mark.slow

KILLED_RULE = "predict"
RULES_THROUGH_SLURM = ("train_base", "densify_silhouettes", "train_online", KILLED_RULE, "refine")
"""One job of each goes through sbatch: training, densification, prediction and refinement."""
STATUS_CHECK_ARGS = ("--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "1",
                     "--latency-wait", "5")
"""The plugin waits 40 s before its first status check and 10 s between checks by default; each of
the run's dozen dependent jobs would wait for the next check, which a test cannot afford."""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> SlurmCluster:
    """A running single-node Slurm (skipped where Slurm is not installed, outside CI)."""
    missing = missing_binaries()
    reason = f"Slurm is not installed ({', '.join(missing)} not found; apt-get install slurm-wlm munge)" \
        if missing else system_config_conflict()
    if reason:
        if in_ci():
            pytest.fail(reason + ": CI must run the Slurm test (.ci/run installs Slurm)")
        pytest.skip(reason)
    cluster = start_cluster(tmp_path_factory.mktemp("slurm"))
    yield cluster
    cluster.stop()


class _Canceller(threading.Thread):
    """Watches squeue and cancels the first running job of ``rule`` (once)."""

    def __init__(self, cluster: SlurmCluster, rule: str) -> None:
        super().__init__(daemon=True)
        self.cluster, self.rule = cluster, rule
        self.cancelled: str | None = None
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set() and self.cancelled is None:
            try:
                lines = self.cluster.command("squeue", "--noheader", "--states=RUNNING", "--format=%i|%k").split()
            except RuntimeError:
                lines = []
            for line in lines:
                job_id, comment = line.split("|", 1)
                if comment.startswith(f"rule_{self.rule}_"):
                    time.sleep(1.0)  # let the job start its work before it is killed
                    self.cluster.command("scancel", job_id)
                    self.cancelled = job_id
                    return
            time.sleep(0.3)


def slurm_jobs(cluster: SlurmCluster) -> list[dict[str, str]]:
    """Every job the controller knows (kept for MinJobAge=3600 s), as ``scontrol`` key=value dicts."""
    jobs = []
    for line in cluster.command("scontrol", "show", "job", "--oneliner").splitlines():
        if line.strip() and not line.startswith("No jobs"):
            jobs.append(dict(re.findall(r"(\S+?)=(\S*)", line)))
    return jobs


def one_job_per_rule(jobs: list[Job]) -> list[Job]:
    """The first job of each rule: the rule's resources reach sbatch without paying for every
    sequence's copy of the same job (each Slurm job starts Snakemake twice)."""
    first: dict[str, Job] = {}
    for job in jobs:
        first.setdefault(job.rule, job)
    return list(first.values())


def _paths(job: Job, field: str) -> set[str]:
    return {path for path in job.fields.get(field, "").split(", ") if path}


def _outputs(jobs: list[Job]) -> list[str]:
    return [path for job in jobs for path in sorted(_paths(job, "output"))]


def ancestors(jobs: list[Job]) -> list[set[int]]:
    """For each job of a complete dry run, the indices of every job upstream of it (through files)."""
    producer = {path: i for i, job in enumerate(jobs) for path in _paths(job, "output")}
    direct = [{producer[path] for path in _paths(job, "input") if path in producer} for job in jobs]
    found: list[set[int] | None] = [None] * len(jobs)

    def up(i: int) -> set[int]:
        if found[i] is None:
            found[i] = set(direct[i]).union(*(up(k) for k in direct[i]))
        return found[i]  # type: ignore[return-value]

    return [up(i) for i in range(len(jobs))]


def independent_groups(jobs: list[Job], chosen: list[int]) -> list[list[int]]:
    """The ``chosen`` jobs (indices into the complete dry run ``jobs``) in groups (first fit)
    where no job is upstream of another: each group reruns in its own copy of the local run with
    its jobs' outputs deleted, and a deleted file makes Snakemake rerun everything downstream."""
    upstream = ancestors(jobs)
    groups: list[list[int]] = []
    for i in chosen:
        for group in groups:
            if not any(i in upstream[k] or k in upstream[i] for k in group):
                group.append(i)
                break
        else:
            groups.append([i])
    return groups


@pytest.fixture(scope="module")
def runs(cluster, complete_test_run, tmp_path_factory) -> dict:
    """The Slurm rerun of one job of each of RULES_THROUGH_SLURM (one cancelled on the way), each in a
    copy of the session's local run (tests/conftest.py) whose outputs of that job were deleted,
    all submitted at once; the plan, where each output was rewritten, and the local run."""
    copies = tmp_path_factory.mktemp("slurm")
    first = clone_run(complete_test_run, copies / "run0")
    everything = scheduled(first, "--configfile", TEST_CONFIG, "--forceall")
    assert set(RULES_THROUGH_SLURM) <= device_rules(first) & {job.rule for job in everything}
    chosen = one_job_per_rule([job for job in everything if job.rule in RULES_THROUGH_SLURM])
    groups = [[everything[i] for i in group]
              for group in independent_groups(everything, [everything.index(job) for job in chosen])]
    args = ("--profile", "profiles/slurm", "--configfile", TEST_CONFIG)
    plan, where, work = [], {}, []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SLURM_CONF", str(cluster.conf))
        for i, group in enumerate(groups):
            slurm_dir = first if i == 0 else clone_run(complete_test_run, copies / f"run{i}")
            targets = _outputs(group)
            for path in targets:
                (slurm_dir / path).unlink()
                where[path] = slurm_dir
            planned = scheduled(slurm_dir, *targets, *args)
            assert sorted(job.rule for job in planned) == sorted(job.rule for job in group), planned
            plan += planned
            work.append((slurm_dir, targets))
        canceller = _Canceller(cluster, KILLED_RULE)
        canceller.start()
        start_wall, start = time.time(), time.monotonic()
        with ThreadPoolExecutor(len(work)) as pool:
            results = list(pool.map(lambda w: snakemake(w[0], *w[1], *args, *STATUS_CHECK_ARGS, timeout=900), work))
        slurm_seconds = time.monotonic() - start
        canceller.done.set()
    output = "\n".join(check(result) for result in results)
    print(f"Slurm run of {len(plan)} jobs in {len(work)} copies: {slurm_seconds:.0f} s")
    return {"where": where, "local": complete_test_run, "plan": plan, "output": output, "started": start_wall,
            "jobs": slurm_jobs(cluster), "cancelled": canceller.cancelled}


def _planned_comment(job: Job) -> str:
    """The comment the plugin gives a job's sbatch call: ``rule_NAME[_wildcards_VALUE_VALUE]``."""
    wildcards = "_".join(job.wildcards.values()).replace("/", "_")
    return f"rule_{job.rule}" + (f"_wildcards_{wildcards}" if wildcards else "")


def _cluster_jobs_by_comment(runs) -> dict[str, list[dict[str, str]]]:
    by_comment: dict[str, list[dict[str, str]]] = {}
    for job in runs["jobs"]:
        by_comment.setdefault(job.get("Comment", ""), []).append(job)
    return by_comment


def test_every_job_went_through_sbatch(runs, cluster):
    planned = {_planned_comment(job) for job in runs["plan"]}
    assert sorted(job.rule for job in runs["plan"]) == sorted(RULES_THROUGH_SLURM), planned
    by_comment = _cluster_jobs_by_comment(runs)
    assert set(by_comment) == planned, (set(by_comment) ^ planned)
    submitted = re.findall(r"_slurm_rpc_submit_batch_job: JobId=(\d+)", cluster.controller_log.read_text())
    assert sorted(submitted, key=int) == sorted((j["JobId"] for j in runs["jobs"]), key=int)
    assert len(submitted) == len(planned) + 1  # every planned job once, the cancelled one twice
    for comment, jobs in by_comment.items():
        assert jobs[-1]["JobState"] == "COMPLETED", (comment, [j["JobState"] for j in jobs])


def test_a_job_cancelled_with_scancel_is_reported_and_retried(runs):
    cancelled = runs["cancelled"]
    assert cancelled is not None, f"no {KILLED_RULE} job was seen running"
    states = {j["JobId"]: j for j in runs["jobs"]}
    assert states[cancelled]["JobState"] == "CANCELLED"
    comment = states[cancelled]["Comment"]
    attempts = _cluster_jobs_by_comment(runs)[comment]
    assert [j["JobState"] for j in attempts] == ["CANCELLED", "COMPLETED"]
    assert re.search(rf"SLURM-job '{cancelled}' failed, SLURM status is: 'CANCELLED'", runs["output"]), \
        runs["output"][-4000:]


def _runtime_limit(minutes: int) -> str:
    """Slurm's TimeLimit format for a limit in minutes (``HH:MM:SS`` or ``D-HH:MM:SS``)."""
    days, rest = divmod(minutes * 60, 86400)
    clock = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:00"
    return f"{days}-{clock}" if days else clock


def test_memory_time_and_gpu_requests_reach_slurm(runs):
    """Each job's sbatch request as the controller recorded it equals the rule's resources, and
    each (all compute on the device) holds a GPU. (That every device rule asks for one and the
    other rules for none is checked on the Slurm profile's dry run, tests/test_workflow_lint.py.)"""
    by_comment = _cluster_jobs_by_comment(runs)
    for job in runs["plan"]:
        recorded = by_comment[_planned_comment(job)][-1]
        assert recorded["MinMemoryNode"] == f"{job.resources['mem_mb']}M", (job.rule, recorded["MinMemoryNode"])
        assert recorded["TimeLimit"] == _runtime_limit(int(job.resources["runtime"])), (job.rule, recorded["TimeLimit"])
        assert recorded.get("TresPerJob") == "gres:gpu:1", (job.rule, recorded.get("TresPerJob"))


def _h5_datasets(path: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def test_rerun_outputs_equal_the_local_run(runs):
    """Every output the Slurm jobs wrote (rewritten during the run) equals the local run's:
    HDF5 datasets and loss tables exactly, model files byte for byte."""
    names = [n for n in _outputs(runs["plan"]) if not n.endswith(".png")]
    assert len([n for n in names if n.endswith(".h5")]) >= 3 and any(n.endswith(".pt") for n in names), names
    for name in names:
        slurm, local = runs["where"][name] / name, runs["local"] / name
        assert slurm.stat().st_mtime >= runs["started"], f"{name} was not rewritten by the Slurm run"
        if name.endswith(".h5"):
            a, b = _h5_datasets(slurm), _h5_datasets(local)
            assert a.keys() == b.keys(), name
            for key in a:
                assert a[key].dtype == b[key].dtype and \
                    np.array_equal(a[key], b[key], equal_nan=a[key].dtype.kind == "f"), \
                    f"{name}:{key} differs between the Slurm and the local run"
        else:
            assert slurm.read_bytes() == local.read_bytes(), f"{name} differs between the Slurm and the local run"
