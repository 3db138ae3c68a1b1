"""Rules train_online / train_online_single: per-video training on top of the parent, then
per-frame predictions (overlapping windows merged)."""
from smal4v.stage_log import stage_log
from smal4v.train.stages import online_sequence_data, predictions_artifact, train_online_variant

with stage_log(snakemake) as created_by:  # noqa: F821
    p, i, o = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
    data = online_sequence_data(i.features, i.frames, i.annotations, i.silhouettes, snakemake.wildcards.seq)  # noqa: F821
    params, offsets = train_online_variant(i.parent, data, p.cfg, p.model, p.keypoint_set, p.seed, p.device,
                                           o.model, o.losses, o.curve)
    predictions_artifact(params, i.frames, p.model, p.keypoint_set, p.variant, o.predictions, created_by, offsets)
