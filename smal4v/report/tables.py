"""The report's tables: headline metrics per variant (mean and spread over sequences) and PCK
per body part, written as small standalone HTML pages from ``summary/metrics.csv``."""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pandas as pd

from smal4v.evaluate.aggregate import HEADLINE_METRICS, read_metric_tables

PART_METRIC = re.compile(r"^pck@(?P<alpha>[0-9.]+)_(?P<norm>sqrt_area|bbox)_(?P<part>\w+)$")


def _ordered(names: list[str], preferred: list[str]) -> list[str]:
    return [v for v in preferred if v in names] + sorted(v for v in names if v not in preferred)


def variant_summary(table: pd.DataFrame, variants: list[str]) -> pd.DataFrame:
    """Per (metric, split) of :data:`HEADLINE_METRICS` and variant: mean, sample standard
    deviation (NaN with one sequence) and number of sequences with a finite value."""
    rows = []
    for metric, split in HEADLINE_METRICS:
        sub = table[(table.metric == metric) & (table.split == split)]
        for variant in _ordered(list(sub.variant.unique()), variants):
            values = sub[sub.variant == variant]["value"].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            rows.append({"metric": metric, "split": split, "variant": variant,
                         "mean": values.mean() if len(values) else np.nan,
                         "std": values.std(ddof=1) if len(values) > 1 else np.nan, "n": len(values)})
    return pd.DataFrame(rows, columns=["metric", "split", "variant", "mean", "std", "n"])


def part_pck(table: pd.DataFrame, variants: list[str], alpha: str = "0.1", norm: str = "sqrt_area",
             split: str = "heldout") -> pd.DataFrame:
    """PCK@alpha per body part (columns) and variant (rows), mean over sequences."""
    rows = []
    for metric in table.metric.unique():
        match = PART_METRIC.match(str(metric))
        if match and match["alpha"] == alpha and match["norm"] == norm:
            rows.append((metric, match["part"]))
    parts = dict(rows)
    sub = table[table.metric.isin(parts) & (table.split == split)].assign(part=lambda t: t.metric.map(parts))
    if sub.empty:
        return pd.DataFrame()
    means = sub.groupby(["variant", "part"])["value"].mean().unstack("part")
    return means.reindex(_ordered(list(means.index), variants))


def _fmt(value: float) -> str:
    return "&ndash;" if not np.isfinite(value) else f"{value:.3f}"


def _page(title: str, note: str, head: list[str], body: list[list[str]]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    rows = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in body)
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#eee}</style></head>"
            f"<body><h3>{html.escape(title)}</h3><p>{html.escape(note)}</p>"
            f"<table><tr>{cells}</tr>{rows}</table></body></html>\n")


def variant_table_html(summary: pd.DataFrame, n_sequences: int) -> str:
    """The variant summary as an HTML page: one row per variant, ``mean ± std`` per metric."""
    columns = list(dict.fromkeys(zip(summary.metric, summary.split)))
    variants = list(dict.fromkeys(summary.variant))
    body = []
    for variant in variants:
        row = [html.escape(variant)]
        for metric, split in columns:
            hit = summary[(summary.variant == variant) & (summary.metric == metric) & (summary.split == split)]
            if hit.empty:
                row.append("&ndash;")
                continue
            mean, std = float(hit["mean"].iloc[0]), float(hit["std"].iloc[0])
            row.append(_fmt(mean) + (f" &plusmn; {std:.3f}" if np.isfinite(std) else ""))
        body.append(row)
    note = (f"Mean over {n_sequences} test sequence(s) and sample standard deviation (shown from two "
            "sequences on). PCK, IoU, J, F: higher is better; jitter, accel_error (against the true motion), pa_mpvpe, joint angle error: lower.")
    return _page("Variants", note, ["variant"] + [f"{m} ({s})" for m, s in columns], body)


def part_table_html(parts: pd.DataFrame, alpha: str, norm: str, split: str) -> str:
    """The per-part PCK table as an HTML page."""
    body = [[html.escape(str(variant))] + [_fmt(float(v)) for v in row] for variant, row in parts.iterrows()]
    note = f"PCK@{alpha} normalised by {norm}, {split} frames, mean over test sequences, per body part."
    return _page("PCK per body part", note, ["variant"] + [str(c) for c in parts.columns], body)


def write_report_tables(metrics_csv: str | Path, variants_html: str | Path, parts_html: str | Path,
                        variants: list[str]) -> None:
    """The ``report_tables`` stage: both tables from the tidy summary table."""
    table = read_metric_tables([metrics_csv])
    table = table[table.sequence != "mean"]
    n_sequences = table.sequence.nunique()
    Path(variants_html).write_text(variant_table_html(variant_summary(table, variants), n_sequences))
    Path(parts_html).write_text(part_table_html(part_pck(table, variants), "0.1", "sqrt_area", "heldout"))
