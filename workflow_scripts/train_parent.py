"""Rule train_parent: base fine-tuned on the training videos' annotated frames (2D only), with
the generic set rehearsed (3D truth) when ``parent.rehearsal`` > 0."""
from smal4v.stage_log import stage_log
from smal4v.train.config import split_parent_config
from smal4v.train.stages import parent_training_set, train_network

with stage_log(snakemake):  # noqa: F821
    p, i, o = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
    train_cfg, rehearsal = split_parent_config(dict(p.cfg))
    dataset = parent_training_set(i.frames, i.annotations, i.silhouettes, rehearsal,
                                  i.generic_frames, i.generic_ground_truth, i.generic_images)
    train_network(dataset, p.network, train_cfg, p.model, p.keypoint_set, p.seed, p.device,
                  o.model, o.losses, o.curve, init=i.base)
