"""Run a workflow stage with its output going to the rule's log file and a provenance tag.

Used by every script in ``workflow_scripts/`` so they stay a few lines long.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from smal4v.data.artifacts import config_hash


def provenance(rule: str, params: Any) -> str:
    """``created_by`` attribute of a stage's artifacts: the rule and a hash of its params."""
    return f"{rule}:{config_hash(dict(params.items()) if hasattr(params, 'items') else params)[:12]}"


@contextlib.contextmanager
def stage_log(snakemake: Any) -> Iterator[str]:
    """Redirect stdout/stderr to the rule's log (if any); yield the provenance tag.

    Progress bars are switched off in logs (``SMAL4V_NO_PROGRESS``) since nobody watches them.
    """
    tag = provenance(snakemake.rule, snakemake.params)
    if not snakemake.log:
        yield tag
        return
    os.makedirs(os.path.dirname(os.path.abspath(snakemake.log[0])), exist_ok=True)
    with open(snakemake.log[0], "w") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        os.environ.setdefault("SMAL4V_NO_PROGRESS", "1")
        try:
            yield tag
        except BaseException:
            import traceback

            traceback.print_exc(file=log)
            raise
