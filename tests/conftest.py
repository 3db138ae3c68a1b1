"""Fixtures shared by several test modules, and how the suite is split between processes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from xdist.scheduler import LoadScopeScheduling

from workflow_helpers import TEST_CONFIG, check, copy_workflow, snakemake

from smal4v.model import load_keypoint_set, load_model

SHARED_RUN_MODULES = frozenset({"tests/test_report_workflow.py", "tests/test_workflow_dag.py",
                                "tests/test_workflow_slurm.py"})
"""The modules that read :func:`complete_test_run`: they run in one process, which makes it once."""


def module_of(nodeid: str) -> str:
    """The test module of a node id (``tests/test_x.py::test_y[z]`` -> ``tests/test_x.py``)."""
    return nodeid.split("::", 1)[0]


class ModuleScheduling(LoadScopeScheduling):
    """pytest-xdist hands out whole modules (their module-scoped fixtures are made once), the
    modules of :data:`SHARED_RUN_MODULES` as one unit, in collection order (pyproject.toml's
    ``--no-loadscope-reorder``; :func:`pytest_collection_modifyitems` sets the order)."""

    def _split_scope(self, nodeid: str) -> str:
        module = module_of(nodeid)
        return "shared run" if module in SHARED_RUN_MODULES else module


class ModuleSchedulingPlugin:
    """Makes pytest-xdist use :class:`ModuleScheduling`."""

    @staticmethod
    def pytest_xdist_make_scheduler(config: pytest.Config, log) -> ModuleScheduling:
        return ModuleScheduling(config, log)


def pytest_configure(config: pytest.Config) -> None:
    """pyproject.toml runs the suite in two processes (``--numprocesses=2``) with
    :class:`ModuleScheduling` (``-n 0``: one process; nothing to register where the xdist
    plugin is turned off)."""
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(ModuleSchedulingPlugin(), "smal4v-module-scheduling")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order the units so the longest start first (the shared run's modules, then those with a
    ``slow`` test): a long unit handed out last would leave the other process idle."""
    strays = {module_of(item.nodeid) for item in items if "complete_test_run" in item.fixturenames} - SHARED_RUN_MODULES
    if strays:
        raise pytest.UsageError(f"{sorted(strays)} use complete_test_run: add them to SHARED_RUN_MODULES "
                                "in tests/conftest.py, so the run is made in one process only")
    slow = {module_of(item.nodeid) for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: (module_of(item.nodeid) not in SHARED_RUN_MODULES, module_of(item.nodeid) not in slow))


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread_per_worker() -> None:
    """In a pytest-xdist worker, torch computes on one thread: the workers already share the
    machine's cores, and two threads per worker would oversubscribe them."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


@pytest.fixture(scope="session")
def complete_test_run(tmp_path_factory) -> Path:
    """A workflow directory after a complete ``snakemake --cores 2`` on the tiny config
    (config/test.yaml), made once per session. Read-only: a test that changes files works on a
    :func:`workflow_helpers.clone_run` copy."""
    workdir = copy_workflow(tmp_path_factory.mktemp("workflow_run"))
    check(snakemake(workdir, "--cores", "2", "--configfile", TEST_CONFIG, timeout=900))
    return workdir


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    """The procedural quadruped (one torch thread: the tests that use it are small)."""
    torch.set_num_threads(1)
    return load_model("procedural")


@pytest.fixture(scope="module")
def kps():
    """BADJA's 20 keypoints on the procedural quadruped."""
    return load_keypoint_set("badja20")
