"""Aggregation of per-sequence metric tables into one tidy table, means and bar plots."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

METRIC_COLUMNS = ["sequence", "variant", "metric", "value", "split"]


def read_metric_tables(paths: list[str | Path]) -> pd.DataFrame:
    """Concatenate per-sequence ``metrics.csv`` files, checking each has the tidy columns."""
    frames = []
    for path in paths:
        table = pd.read_csv(path)
        missing = [c for c in METRIC_COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(f"metrics table {path}: missing column(s) {missing}")
        frames.append(table[METRIC_COLUMNS])
    if not frames:
        raise ValueError("no metric tables to aggregate")
    return pd.concat(frames, ignore_index=True)


def mean_over_sequences(table: pd.DataFrame) -> pd.DataFrame:
    """Mean of each (variant, metric, split) over sequences, NaNs ignored; ``sequence='mean'``."""
    means = table.groupby(["variant", "metric", "split"], sort=False, as_index=False)["value"].mean()
    means.insert(0, "sequence", "mean")
    return means[METRIC_COLUMNS]


HEADLINE_METRICS: list[tuple[str, str]] = [
    ("pck@0.1_sqrt_area", "heldout"),
    ("pck@0.1_sqrt_area", "unseen"),
    ("pck@0.15_sqrt_area", "unseen"),
    ("pck@0.1_bbox", "heldout"),
    ("iou", "all"),
    ("iou", "unseen"),
    ("jitter", "all"),
    ("accel_error", "all"),
    ("pa_mpvpe", "all"),
    ("mpvpe", "all"),
    ("joint_angle_error_deg", "all"),
    ("J", "heldout"),
    ("F", "heldout"),
]
"""(metric, split) pairs plotted; per-part and per-alpha rows stay in the tables."""


def plot_metrics(means: pd.DataFrame, out_dir: str | Path, variants: list[str]) -> list[Path]:
    """A bar plot per headline metric present (variants side by side) plus ``summary.png``
    with all of them; returns the PNG paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    present = []
    for metric, split in HEADLINE_METRICS:
        rows = means[(means.metric == metric) & (means.split == split)]
        if len(rows):
            present.append((metric, split, rows.set_index("variant")["value"]))
    colours = plt.cm.tab10.colors
    written = []

    def draw(ax: plt.Axes, metric: str, split: str, values: pd.Series) -> None:
        names = [v for v in variants if v in values.index] + [v for v in values.index if v not in variants]
        ax.bar(range(len(names)), values.reindex(names).to_numpy(), color=[colours[i % 10] for i in range(len(names))])
        ax.set_xticks(range(len(names)), names, rotation=25, fontsize=8)
        ax.set_title(f"{metric} ({split})", fontsize=9)
        ax.grid(axis="y", alpha=0.3)

    for metric, split, values in present:
        fig, ax = plt.subplots(figsize=(4.5, 3.0), dpi=100)
        draw(ax, metric, split, values)
        fig.tight_layout()
        path = out_dir / f"{metric.replace('@', '_at_')}_{split}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    if present:
        cols = min(3, len(present))
        rows_n = (len(present) + cols - 1) // cols
        fig, axes = plt.subplots(rows_n, cols, figsize=(4.2 * cols, 3.0 * rows_n), dpi=100, squeeze=False)
        for ax, (metric, split, values) in zip(axes.flat, present):
            draw(ax, metric, split, values)
        for ax in list(axes.flat)[len(present):]:
            ax.axis("off")
        fig.tight_layout()
        path = out_dir / "summary.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written


def aggregate_metrics(paths: list[str | Path], table_out: str | Path, means_out: str | Path,
                      plots_dir: str | Path, variants: list[str]) -> pd.DataFrame:
    """Write the tidy summary table (sequences + means), the means table and the plots."""
    table = read_metric_tables(paths)
    means = mean_over_sequences(table)
    pd.concat([table, means], ignore_index=True).to_csv(table_out, index=False)
    means.to_csv(means_out, index=False)
    plot_metrics(means, plots_dir, variants)
    return means
