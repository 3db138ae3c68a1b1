"""Rule predict_c2f: the refined single-frame network (variant c2f) on every frame of a video (its
coarse estimate fitted to its keypoint detections with keypoint_fit, as parent's)."""
from smal4v.stage_log import stage_log
from smal4v.train.c2f_stages import predict_c2f_variant

with stage_log(snakemake) as created_by:  # noqa: F821
    p, i = snakemake.params, snakemake.input  # noqa: F821
    predict_c2f_variant(i.network, i.hierarchy, i.frames, p.cfg, p.model, p.keypoint_set, p.device,
                        snakemake.output.predictions, created_by, p.fit)  # noqa: F821
