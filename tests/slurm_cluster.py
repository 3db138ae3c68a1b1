"""A real single-node Slurm cluster for the tests, started by hand (no systemd).

Debian's ``slurm-wlm`` + ``munge`` (``.ci/run`` installs them): :func:`start_cluster` writes a
minimal ``slurm.conf`` into a temporary folder, starts ``munged`` if none runs, then
``slurmctld`` and ``slurmd`` on free local ports; every Slurm command finds the cluster through
``SLURM_CONF`` (:meth:`SlurmCluster.env`). The node advertises four GPUs whose device files
are ``/dev/null``, ``/dev/zero``, ``/dev/full`` and ``/dev/urandom`` (Slurm drops a GPU without
a file), so a job asking ``--gpus=1`` is scheduled (up to four at a time, so that the waits
between the plugin's status checks overlap), its
request shows in ``scontrol show job`` (``TresPerJob=gres:gpu:1``) and it gets
``CUDA_VISIBLE_DEVICES=0``, although the machine has no GPU: the job computes on the CPU.

Snakemake's job step inside each batch job calls ``srun`` with every ``SLURM_*`` variable
removed, ``SLURM_CONF`` included, so ``srun`` reads the default ``/etc/slurm/slurm.conf``: the
cluster links it to its own config while it runs (only where no such file exists; a machine
with a real Slurm config there cannot host the test cluster, :func:`system_config_conflict`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SLURM_BINARIES = ("slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "munged")
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
NODE_CPUS = 4
"""CPUs the node advertises (more than the machine's 2, so that two jobs can run at once)."""
NODE_MEMORY_MB = 32000
GPU_FILES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/urandom")
"""Stand-in device files of the node's GPUs (Slurm only records them; nothing opens them)."""
"""Memory the node advertises: four jobs of the largest requests (8000 MB) at once."""


def missing_binaries() -> list[str]:
    """The Slurm/munge programs not on PATH (also looked up in /usr/sbin)."""
    return [b for b in SLURM_BINARIES if _which(b) is None]


def system_config_conflict() -> str | None:
    """Why the test cluster cannot link the default config path, or None when it can."""
    if SYSTEM_CONF.is_symlink() and not SYSTEM_CONF.exists():
        return None  # a stale link left by a killed test run: replaced
    if SYSTEM_CONF.exists() and not SYSTEM_CONF.is_symlink():
        return f"{SYSTEM_CONF} exists (a real Slurm configuration); the test cluster would shadow it"
    if not os.access(SYSTEM_CONF.parent if SYSTEM_CONF.parent.exists() else SYSTEM_CONF.parent.parent, os.W_OK):
        return f"cannot write {SYSTEM_CONF} (the test cluster needs root)"
    return None


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@dataclass
class SlurmCluster:
    """A running cluster: its folder, config file and the daemons this module started."""

    root: Path
    conf: Path
    node: str
    partition: str = "test"
    processes: list[subprocess.Popen] = field(default_factory=list)
    linked_system_conf: bool = False

    def env(self) -> dict[str, str]:
        """The environment every Slurm command (and Snakemake's Slurm plugin) needs."""
        env = dict(os.environ)
        env["SLURM_CONF"] = str(self.conf)
        env["PATH"] = os.pathsep.join([env.get("PATH", ""), "/usr/sbin", "/sbin"])
        return env

    def command(self, *args: str, timeout: float = 30) -> str:
        """Run a Slurm client command (``squeue``, ``scontrol`` ...) and return its stdout."""
        result = subprocess.run(list(args), env=self.env(), capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
        return result.stdout

    @property
    def controller_log(self) -> Path:
        """slurmctld's log: one ``_slurm_rpc_submit_batch_job: JobId=N`` line per sbatch."""
        return self.root / "slurmctld.log"

    def stop(self) -> None:
        """Cancel every job, then end the daemons this module started (by their process ids)."""
        try:
            self.command("scancel", "--full", "--partition", self.partition, timeout=10)
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.processes):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.linked_system_conf and SYSTEM_CONF.is_symlink():
            SYSTEM_CONF.unlink()


def _ensure_munge() -> subprocess.Popen | None:
    """Start munged as the munge user unless one already answers; returns what was started."""
    if subprocess.run(["sh", "-c", "munge -n | unmunge"], capture_output=True).returncode == 0:
        return None
    for folder in ("/run/munge", "/var/log/munge", "/var/lib/munge"):
        os.makedirs(folder, exist_ok=True)
        shutil.chown(folder, "munge", "munge")
    proc = subprocess.Popen(["runuser", "-u", "munge", "--", _which("munged"), "--foreground"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(50):
        if subprocess.run(["sh", "-c", "munge -n | unmunge"], capture_output=True).returncode == 0:
            return proc
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"munged did not start: {proc.stderr.read().decode() if proc.stderr else ''}")


def write_config(root: Path, node: str, partition: str) -> Path:
    """A minimal slurm.conf (+ gres.conf with stand-in GPUs) for one node on 127.0.0.1."""
    ctld_port, d_port = _free_ports(2)
    (root / "state").mkdir(parents=True, exist_ok=True)
    (root / "spool").mkdir(parents=True, exist_ok=True)
    conf = root / "slurm.conf"
    conf.write_text("\n".join([
        "ClusterName=smal4vtest",
        f"SlurmctldHost={node}(127.0.0.1)",
        f"SlurmctldPort={ctld_port}",
        f"SlurmdPort={d_port}",
        "SlurmUser=root",
        "AuthType=auth/munge",
        f"StateSaveLocation={root / 'state'}",
        f"SlurmdSpoolDir={root / 'spool'}",
        f"SlurmctldPidFile={root / 'slurmctld.pid'}",
        f"SlurmdPidFile={root / 'slurmd.pid'}",
        f"SlurmctldLogFile={root / 'slurmctld.log'}",
        f"SlurmdLogFile={root / 'slurmd.log'}",
        "SlurmctldDebug=info",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        "SlurmdParameters=config_overrides",
        "ReturnToService=2",
        "MinJobAge=3600",
        "KillWait=2",
        "GresTypes=gpu",
        f"NodeName={node} NodeAddr=127.0.0.1 CPUs={NODE_CPUS} RealMemory={NODE_MEMORY_MB} Gres=gpu:{len(GPU_FILES)} State=UNKNOWN",
        f"PartitionName={partition} Nodes={node} Default=YES MaxTime=INFINITE State=UP",
        "",
    ]))
    (root / "gres.conf").write_text("".join(f"NodeName={node} Name=gpu File={f}\n" for f in GPU_FILES))
    return conf


def start_cluster(root: Path, timeout: float = 30) -> SlurmCluster:
    """Bring up munged (if needed), slurmctld and slurmd with a fresh config under ``root``;
    waits until the node accepts jobs. Raises RuntimeError (with the daemon logs) otherwise."""
    root.mkdir(parents=True, exist_ok=True)
    node = socket.gethostname().split(".")[0]
    cluster = SlurmCluster(root, write_config(root, node, "test"), node)
    conflict = system_config_conflict()
    if conflict:
        raise RuntimeError(conflict)
    SYSTEM_CONF.parent.mkdir(parents=True, exist_ok=True)
    if SYSTEM_CONF.is_symlink():
        SYSTEM_CONF.unlink()
    SYSTEM_CONF.symlink_to(cluster.conf)
    cluster.linked_system_conf = True
    munge = _ensure_munge()
    if munge is not None:
        cluster.processes.append(munge)
    env = cluster.env()
    for daemon in (["slurmctld", "-D", "-c", "-i"], ["slurmd", "-D", "-N", node]):
        cluster.processes.append(subprocess.Popen([_which(daemon[0]), *daemon[1:]], env=env,
                                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        try:
            state = cluster.command("sinfo", "--noheader", "--format=%T", timeout=5).strip()
        except (RuntimeError, subprocess.TimeoutExpired):
            state = ""
        if state in ("idle", "mixed", "allocated"):
            return cluster
        time.sleep(0.3)
    logs = "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in root.glob("*.log"))
    cluster.stop()
    raise RuntimeError(f"Slurm node did not become idle in {timeout} s (state {state!r}):\n{logs}")
