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


def plot_metrics(means: pd.DataFrame, out_dir: str | Path, variants: list[str]) -> list[Path]:
    """One bar plot per (metric, split): variants side by side; returns the PNG paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for (metric, split), group in means.groupby(["metric", "split"], sort=True):
        values = group.set_index("variant")["value"].reindex(variants)
        fig, ax = plt.subplots(figsize=(4.5, 3.0), dpi=100)
        ax.bar(range(len(variants)), values.to_numpy(), color=plt.cm.tab10.colors[: len(variants)])
        ax.set_xticks(range(len(variants)), variants, rotation=20)
        ax.set_title(f"{metric} ({split})")
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        safe = metric.replace("@", "_at_").replace("/", "_")
        path = out_dir / f"{safe}_{split}.png"
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
