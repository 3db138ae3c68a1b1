"""Rule train_parent: base fine-tuned on the training videos' annotated frames (2D only)."""
from smal4v.stage_log import stage_log
from smal4v.train.stages import parent_dataset, train_network

with stage_log(snakemake):  # noqa: F821
    p, i, o = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
    train_network(parent_dataset(i.frames, i.annotations, i.silhouettes), p.network, p.cfg, p.model,
                  p.keypoint_set, p.seed, p.device, o.model, o.losses, o.curve, init=i.base)
