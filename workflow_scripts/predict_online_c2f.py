"""Rule predict_online_c2f: the GCN on every frame of the online estimate, offsets fused per video."""
from smal4v.stage_log import stage_log
from smal4v.train.c2f_stages import predict_online_c2f_variant

with stage_log(snakemake) as created_by:  # noqa: F821
    p, i = snakemake.params, snakemake.input  # noqa: F821
    predict_online_c2f_variant(i.network, i.hierarchy, i.frames, i.online, p.cfg, p.model, p.keypoint_set, p.device,
                               snakemake.output.predictions, created_by)  # noqa: F821
