"""Provenance tags of workflow stages: stable for equal params, different for different ones."""

from smal4v.stage_log import provenance


def test_provenance_depends_on_params_only():
    a = provenance("train_online", {"cfg": {"epochs": 3}, "seed": 0})
    assert a == provenance("train_online", {"seed": 0, "cfg": {"epochs": 3}})
    assert a != provenance("train_online", {"cfg": {"epochs": 4}, "seed": 0})
    assert a.startswith("train_online:") and len(a.split(":")[1]) == 12
