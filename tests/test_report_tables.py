"""Report tables: variant means/spreads and per-part PCK against hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd

from smal4v.report.tables import part_pck, variant_summary, write_report_tables


def _table() -> pd.DataFrame:
    rows = [
        ("a", "online", "pck@0.1_sqrt_area", 0.6, "heldout"), ("b", "online", "pck@0.1_sqrt_area", 0.8, "heldout"),
        ("a", "base", "pck@0.1_sqrt_area", 0.1, "heldout"), ("b", "base", "pck@0.1_sqrt_area", np.nan, "heldout"),
        ("a", "online", "iou", 0.5, "all"), ("b", "online", "iou", 0.7, "all"),
        ("a", "online", "pck@0.1_sqrt_area_legs", 0.5, "heldout"), ("b", "online", "pck@0.1_sqrt_area_legs", 1.0, "heldout"),
        ("a", "online", "pck@0.1_sqrt_area_face", 0.2, "heldout"), ("a", "online", "pck@0.1_bbox_face", 0.9, "heldout"),
        ("a", "online", "pck@0.15_sqrt_area_face", 0.9, "heldout"), ("a", "online", "pck@0.1_sqrt_area_face", 0.9, "train"),
        ("a", "base", "pck@0.1_sqrt_area_legs", 0.0, "heldout"),
    ]
    return pd.DataFrame(rows, columns=["sequence", "variant", "metric", "value", "split"])


def test_variant_summary_mean_sample_std_and_count():
    summary = variant_summary(_table(), ["base", "online"])
    pck = summary[summary.metric == "pck@0.1_sqrt_area"].set_index("variant")
    assert list(pck.index) == ["base", "online"]  # the configured order
    assert pck.loc["online", "mean"] == 0.7 and np.isclose(pck.loc["online", "std"], np.std([0.6, 0.8], ddof=1))
    assert pck.loc["base", "n"] == 1 and pck.loc["base", "mean"] == 0.1 and np.isnan(pck.loc["base", "std"])
    iou = summary[summary.metric == "iou"].iloc[0]
    assert (iou.variant, iou.split, iou.n) == ("online", "all", 2) and np.isclose(iou["mean"], 0.6)


def test_part_pck_uses_only_the_chosen_threshold_norm_and_split():
    parts = part_pck(_table(), ["base", "online"])
    assert list(parts.index) == ["base", "online"] and sorted(parts.columns) == ["face", "legs"]
    assert parts.loc["online", "legs"] == 0.75 and parts.loc["online", "face"] == 0.2
    assert parts.loc["base", "legs"] == 0.0 and np.isnan(parts.loc["base", "face"])


def test_written_pages_show_mean_plus_minus_std(tmp_path):
    _table().to_csv(tmp_path / "metrics.csv", index=False)
    write_report_tables(tmp_path / "metrics.csv", tmp_path / "v.html", tmp_path / "p.html", ["base", "online"])
    variants = (tmp_path / "v.html").read_text()
    assert f"0.700 &plusmn; {np.std([0.6, 0.8], ddof=1):.3f}" in variants and "Mean over 2 test sequence(s)" in variants
    assert "<td>0.750</td>" in (tmp_path / "p.html").read_text()
