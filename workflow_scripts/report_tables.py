"""Rule report_tables: summary/metrics.csv -> variant table (mean and spread) + PCK per body part."""
from smal4v.report.tables import write_report_tables
from smal4v.stage_log import stage_log

with stage_log(snakemake):  # noqa: F821
    o = snakemake.output  # noqa: F821
    write_report_tables(snakemake.input.table, o.variants, o.parts, snakemake.params.variants)  # noqa: F821
