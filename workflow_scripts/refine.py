"""Rule refine: per-video mesh refinement (vertex offsets + pose corrections) of the online predictions."""
from smal4v.stage_log import stage_log
from smal4v.train.stages import refine_variant

with stage_log(snakemake) as created_by:  # noqa: F821
    p, i, o = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
    refine_variant(i.predictions, i.frames, i.annotations, i.silhouettes, p.cfg, p.model, p.keypoint_set, p.seed,
                   p.device, o.predictions, o.losses, o.curve, created_by, i.features)
