"""Rule encode_features: the parent's frozen encoder on every crop of a video -> features.h5, with its
keypoint head's detections (from a copy adapted to the video's training keypoints: detector_adaptation)."""
from smal4v.stage_log import stage_log
from smal4v.train.stages import encode_features

with stage_log(snakemake) as created_by:  # noqa: F821
    p, i = snakemake.params, snakemake.input  # noqa: F821
    encode_features(i.parent, i.frames, snakemake.output.features, p.model, p.device, created_by,  # noqa: F821
                    p.adaptation, i.annotations, i.silhouettes, p.keypoint_set, p.seed)
