"""Fixtures shared by several test modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from workflow_helpers import TEST_CONFIG, check, copy_workflow, snakemake


@pytest.fixture(scope="session")
def complete_test_run(tmp_path_factory) -> Path:
    """A workflow directory after a complete ``snakemake --cores 2`` on the tiny config
    (config/test.yaml), made once per session. Read-only: a test that changes files works on a
    :func:`workflow_helpers.clone_run` copy."""
    workdir = copy_workflow(tmp_path_factory.mktemp("workflow_run"))
    check(snakemake(workdir, "--cores", "2", "--configfile", TEST_CONFIG, timeout=900))
    return workdir
