"""Rule evaluate_silhouettes: silhouettes.h5 vs ground truth on frames not given -> tidy CSV."""
from smal4v.segment.osvos_evaluate import evaluate_silhouettes
from smal4v.stage_log import stage_log

with stage_log(snakemake):  # noqa: F821
    i = snakemake.input  # noqa: F821
    table = evaluate_silhouettes(snakemake.wildcards.seq, i.silhouettes, i.annotations, i.ground_truth)  # noqa: F821
    table.to_csv(snakemake.output.metrics, index=False)  # noqa: F821
