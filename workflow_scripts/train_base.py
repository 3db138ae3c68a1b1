"""Rule train_base: the single-frame network on the generic synthetic set (3D + 2D supervision)."""
from smal4v.stage_log import stage_log
from smal4v.train.stages import base_dataset, train_network

with stage_log(snakemake):  # noqa: F821
    p, i, o = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
    train_network(base_dataset(i.frames, i.ground_truth, i.images), p.network, p.cfg, p.model, p.keypoint_set,
                  p.seed, p.device, o.model, o.losses, o.curve)
