"""Rule predict: a single-frame network (base or parent) on every frame of a video (fitted to its
keypoint detections with keypoint_fit)."""
from smal4v.stage_log import stage_log
from smal4v.train.stages import predict_variant

with stage_log(snakemake) as created_by:  # noqa: F821
    p, i = snakemake.params, snakemake.input  # noqa: F821
    predict_variant(i.network, i.frames, p.model, p.keypoint_set, snakemake.wildcards.variant, p.device,  # noqa: F821
                    snakemake.output.predictions, created_by, p.fit)  # noqa: F821
