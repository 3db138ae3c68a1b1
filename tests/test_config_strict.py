"""Strict configuration (issue 16): a typo in any config subtree stops the workflow with a
message naming the key, and the shipped configs pass every check."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from smal4v.config_check import _checks, check_settings
from workflow_helpers import REPO, TEST_CONFIG, copy_workflow, snakemake

SCHEMA = REPO / "config/schema.yaml"
CONFIGS = [None] + sorted(str(p.relative_to(REPO)) for p in (REPO / "config").glob("*.yaml")
                          if p.name not in ("config.yaml", "schema.yaml"))


def _merged(extra: str | None) -> dict:
    """config/config.yaml with ``extra`` merged over it, as Snakemake's --configfile does."""
    def merge(a: dict, b: dict) -> dict:
        out = copy.deepcopy(a)
        for k, v in b.items():
            out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        return out

    base = yaml.safe_load((REPO / "config/config.yaml").read_text())
    return merge(base, yaml.safe_load((REPO / extra).read_text())) if extra else base


@pytest.mark.parametrize("extra", CONFIGS)
def test_shipped_configs_pass_schema_and_settings(extra: str | None) -> None:
    config = _merged(extra)
    validate(config, str(SCHEMA))
    check_settings(config)


def _objects_with_properties(node: dict, path: str = "config"):
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            yield path, node
        for key, child in node.get("properties", {}).items():
            yield from _objects_with_properties(child, f"{path}.{key}")


def test_every_listed_subtree_rejects_unknown_keys() -> None:
    """Where the schema lists a subtree's keys it forbids others; the rest are free mappings
    that check_settings builds (or, for `parent`, the listed `rehearsal` plus its settings)."""
    schema = yaml.safe_load(SCHEMA.read_text())
    open_listed = [path for path, node in _objects_with_properties(schema) if node.get("additionalProperties") is not False]
    assert open_listed == ["config.parent"], open_listed
    free = [key for key, node in schema["properties"].items() if node.get("type") == "object" and "properties" not in node]
    checked = {path[0] for path in _checks()}
    assert set(free) <= checked, set(free) - checked


@pytest.mark.parametrize("path", list(_checks()))
def test_check_settings_rejects_a_typo_in_each_free_subtree(path: tuple[str, ...]) -> None:
    config = _merged(None)
    node = config
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = {**(node.get(path[-1]) or {}), "no_such_setting": 1}
    with pytest.raises(ValueError, match=rf"config {'.'.join(path)}: unknown keys \['no_such_setting'\]"):
        check_settings(config)


@pytest.fixture(scope="module")
def strict_workflow(tmp_path_factory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("strict") / "workflow")


def test_snakemake_rejects_a_typo_in_a_listed_subtree(strict_workflow: Path) -> None:
    result = snakemake(strict_workflow, "--dry-run", "--configfile", TEST_CONFIG, "--config", "frames={crop_sise: 64}", timeout=120)
    assert result.returncode != 0
    assert "'crop_sise' was unexpected" in result.stdout, result.stdout[-3000:]


def test_snakemake_stops_on_a_typo_in_a_free_subtree_before_any_job(strict_workflow: Path) -> None:
    """`online_single` is only read by its own late stage: the run still stops at once."""
    result = snakemake(strict_workflow, "--cores", "1", "--configfile", TEST_CONFIG, "--config", "online_single={epoch: 3}",
                       timeout=180)
    assert result.returncode != 0
    assert "config online_single: unknown keys ['epoch']" in result.stdout, result.stdout[-3000:]
    assert not (strict_workflow / "results").exists()
