"""Workflow jobs that need no network skip torch's import, and training jobs skip the inductor's:
each is 2-3 s of every job on a 2-core machine (the demo runs ~70 jobs)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from smal4v.segment.densify import densifier


def _modules_after(code: str) -> set[str]:
    """Names in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint(' '.join(sys.modules))"],
                         check=True, capture_output=True, text=True)
    return set(out.stdout.split())


def test_annotation_import_and_densification_jobs_do_not_import_torch():
    loaded = _modules_after(
        "from smal4v.data.importers import import_sequence\n"
        "from smal4v.segment.densify import densifier, densify_sequence\n"
        "from smal4v.stage_log import stage_log\n"
        "from smal4v.model import load_keypoint_set, load_model_data\n"
        "load_keypoint_set('badja20').names\n"
        "densifier('propagate'); densifier('flow')\n")
    assert "torch" not in loaded


def test_model_classes_still_load_on_first_use():
    loaded = _modules_after("from smal4v.model import AnimalModel, load_model\nload_model()\n")
    assert "torch" in loaded and "smal4v.model.animal_model" in loaded


def test_seeding_sets_deterministic_kernels_without_the_inductor():
    out = subprocess.run([sys.executable, "-c",
                          "import sys, torch\nfrom smal4v.train.loop import seed_everything\nseed_everything(3)\n"
                          "print(torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),"
                          " 'torch._inductor.config' in sys.modules)"],
                         check=True, capture_output=True, text=True)
    assert out.stdout.split() == ["True", "True", "False"]


def test_unknown_densification_method_is_named():
    with pytest.raises(ValueError, match="'osvos2' is not one of"):
        densifier("osvos2")
