"""Aggregation of per-sequence metric tables (tidy long form) into means and plots."""

import math

import pandas as pd
import pytest

from smal4v.evaluate.aggregate import aggregate_metrics


def _write(path, sequence, rows):
    pd.DataFrame([dict(sequence=sequence, variant=v, metric=m, value=x, split=s) for v, m, x, s in rows]).to_csv(path, index=False)


def test_means_ignore_nan_and_keep_variants(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    _write(a, "s1", [("parent", "iou", 0.5, "all"), ("online", "iou", 0.7, "all"), ("online", "pck@0.1_sqrt_area", float("nan"), "heldout")])
    _write(b, "s2", [("parent", "iou", 0.7, "all"), ("online", "iou", 0.9, "all"), ("online", "pck@0.1_sqrt_area", 0.4, "heldout")])
    means = aggregate_metrics([a, b], tmp_path / "t.csv", tmp_path / "m.csv", tmp_path / "plots", ["parent", "online"])
    got = {(r.variant, r.metric): r.value for r in means.itertuples()}
    assert got[("parent", "iou")] == pytest.approx(0.6)
    assert got[("online", "iou")] == pytest.approx(0.8)
    assert got[("online", "pck@0.1_sqrt_area")] == pytest.approx(0.4)
    table = pd.read_csv(tmp_path / "t.csv")
    assert list(table.columns) == ["sequence", "variant", "metric", "value", "split"]
    assert set(table.sequence) == {"s1", "s2", "mean"}
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["iou_all.png", "pck_at_0.1_sqrt_area_heldout.png", "summary.png"]
    assert not math.isnan(got[("online", "pck@0.1_sqrt_area")])


def test_missing_column_names_file(tmp_path):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"sequence": ["s"], "value": [1.0]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match="bad.csv"):
        aggregate_metrics([bad], tmp_path / "t.csv", tmp_path / "m.csv", tmp_path / "p", ["x"])
