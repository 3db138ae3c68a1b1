"""Rule aggregate_image_metrics: every test image set's metrics -> summary tables."""
from smal4v.evaluate.image_protocol import aggregate_image_metrics
from smal4v.stage_log import stage_log

with stage_log(snakemake):  # noqa: F821
    aggregate_image_metrics(list(snakemake.input), snakemake.output.table, snakemake.output.wide)  # noqa: F821
