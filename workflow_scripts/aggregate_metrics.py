"""Rule aggregate_metrics: per-sequence metrics.csv -> summary table, means and plots."""
from smal4v.evaluate.aggregate import aggregate_metrics
from smal4v.stage_log import stage_log

with stage_log(snakemake):  # noqa: F821
    out = snakemake.output  # noqa: F821
    aggregate_metrics(snakemake.input.metrics, out.table, out.means, out.plots, snakemake.params.variants)  # noqa: F821
