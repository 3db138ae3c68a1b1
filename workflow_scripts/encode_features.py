"""Rule encode_features: the parent's frozen encoder on every crop of a video -> features.h5."""
from smal4v.stage_log import stage_log
from smal4v.train.stages import encode_features

with stage_log(snakemake) as created_by:  # noqa: F821
    p = snakemake.params  # noqa: F821
    encode_features(snakemake.input.parent, snakemake.input.frames, snakemake.output.features,  # noqa: F821
                    p.model, p.device, created_by)
