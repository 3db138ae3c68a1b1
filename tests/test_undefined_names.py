"""No name is used that is never defined (pyflakes) in the package, the benchmarks and the rule
scripts: such a slip fails only when its line runs, e.g. after a benchmark's hour of training."""

from __future__ import annotations

from pathlib import Path

from pyflakes import api, messages
from pyflakes.reporter import Reporter

ROOT = Path(__file__).resolve().parents[1]
INJECTED = {"snakemake"}  # the object Snakemake gives every rule script


class _Collect(Reporter):
    """Keeps pyflakes' undefined-name findings; ignores the rest (unused imports are deliberate here)."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def flake(self, message: messages.Message) -> None:
        if isinstance(message, messages.UndefinedName) and message.message_args[0] not in INJECTED:
            self.found.append(str(message))

    def syntaxError(self, filename, msg, lineno, offset, text) -> None:  # noqa: N802 (pyflakes' API)
        self.found.append(f"{filename}:{lineno}: {msg}")

    def unexpectedError(self, filename, msg) -> None:  # noqa: N802
        self.found.append(f"{filename}: {msg}")


def test_no_undefined_names() -> None:
    reporter = _Collect()
    for folder in ("smal4v", "benchmarks", "workflow_scripts", "tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            api.checkPath(str(path), reporter)
    assert not reporter.found, "\n".join(reporter.found)
