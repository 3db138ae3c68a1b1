"""Static checks of the Snakemake workflow (dry runs only, nothing is executed): the linter is
clean, the Slurm profile builds the jobs with a GPU on every rule that computes on the device
and those rules use the GPU conda env, the config schema
is enforced and the sheet and output folder can be chosen on the command line."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import yaml

from smal4v.data.sheet import load_sequence_sheet
from workflow_helpers import REPO, TEST_CONFIG, copy_workflow, device_rules, rule_blocks, scheduled, snakemake

TRAINING_RULES = ("train_base", "train_parent", "train_online", "train_online_single")
REFINE_DENSIFY_PREDICT = ("refine", "densify_silhouettes", "predict", "encode_features", "train_osvos_parent")


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    """A fresh copy of the workflow files (no results)."""
    return copy_workflow(tmp_path_factory.mktemp("workflow"))


@pytest.fixture(scope="module")
def slurm_jobs(workflow):
    """The jobs of a dry run of the tiny config through the Slurm profile."""
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="the [slurm] extra is not installed")
    return scheduled(workflow, "--profile", "profiles/slurm", "--configfile", TEST_CONFIG)


def test_lint_has_no_findings(workflow):
    result = snakemake(workflow, "--lint", timeout=120)
    findings = [line for line in result.stdout.splitlines() if line.startswith(("Lints for", "    * "))]
    assert not findings, "snakemake --lint findings:\n" + "\n".join(findings[:60])
    assert result.returncode == 0, result.stdout[-3000:]


def test_slurm_profile_asks_a_gpu_for_device_rules_only(slurm_jobs):
    gpu_rules = device_rules()
    rules = {job.rule for job in slurm_jobs}
    assert set(TRAINING_RULES + REFINE_DENSIFY_PREDICT) <= gpu_rules & rules, gpu_rules & rules
    for job in slurm_jobs:
        if job.rule == "all":
            continue
        gpus = job.resources.get("gpu")
        if job.rule in gpu_rules:
            assert gpus == "1", f"{job.rule} {job.wildcards}: resources {job.resources}"
        else:
            assert gpus in (None, "0"), f"{job.rule} should not hold a GPU: {job.resources}"
        assert int(job.resources["mem_mb"]) > 0 and int(job.resources["runtime"]) > 0, job.resources


def test_slurm_profile_names_a_gpu_for_every_device_rule_and_no_other():
    """Also the device rules the tiny config does not run (its dry run cannot show them)."""
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    with_gpu = {rule for rule, res in profile["set-resources"].items() if int(res.get("gpu", 0)) > 0}
    assert with_gpu == device_rules(), with_gpu ^ device_rules()


def test_device_rules_use_the_gpu_conda_env_and_the_others_the_cpu_env():
    for name, block in rule_blocks().items():
        env = "GPU_CONDA_ENV" if name in device_rules() else "CONDA_ENV"
        if "conda:" in block or not block.startswith("use rule"):
            assert f"conda:\n        {env}\n" in block, f"rule {name} should use {env}:\n{block}"


def test_slurm_plugin_turns_the_gpu_resource_into_sbatch_gpus(slurm_jobs):
    """The resources the dry run reports for train_base become ``--gpus=1`` in the plugin's
    sbatch call (the plugin's own GRES builder, fed the parsed resources)."""
    utils = pytest.importorskip("snakemake_executor_plugin_slurm.utils")
    base = next(job for job in slurm_jobs if job.rule == "train_base")
    resources = {k: int(v) if v.isdigit() else v for k, v in base.resources.items()}

    class Resources(dict):
        __getattr__ = dict.__getitem__

    assert utils.set_gres_string(SimpleNamespace(resources=Resources(resources))).strip() == "--gpus=1"


def test_schema_rejects_a_bad_config_value_naming_it(workflow):
    """config/schema.yaml is enforced: an unknown device fails before any job, naming the value."""
    result = snakemake(workflow, "--dry-run", "--configfile", TEST_CONFIG, "--config", "device=tpu", timeout=120)
    assert result.returncode != 0
    assert "tpu" in result.stdout and "device" in result.stdout, result.stdout[-3000:]


def test_sheet_and_results_folder_come_from_the_command_line(workflow):
    """`--config sequences=PATH results=DIR` points a run at another sheet and output folder:
    every job of the dry run writes under DIR, for exactly the sheet's sequences."""
    jobs = scheduled(workflow, "--config", "sequences=config/test_sequences.tsv", "results=elsewhere")
    outputs = [path for job in jobs for path in job.fields.get("output", "").split(", ") if path]
    assert outputs and all(path.startswith("elsewhere/") for path in outputs), outputs[:5]
    sequences = {job.wildcards["seq"] for job in jobs if "seq" in job.wildcards}
    assert sequences == set(load_sequence_sheet(workflow / "config/test_sequences.tsv"))


def test_rules_that_use_the_model_or_keypoint_set_rerun_when_their_files_change():
    """Their params carry DEFINITIONS (the digest of the model's and the keypoint set's files),
    so Snakemake's params trigger sees an edited keypoint YAML, spec or SMAL file."""
    users = {name: block for name, block in rule_blocks().items()
             if 'config["model"]' in block or 'config["keypoint_set"]' in block}
    assert len(users) > 10
    missing = [name for name, block in users.items() if "definitions=DEFINITIONS" not in block]
    assert not missing, missing
