"""Rules train_c2f_stage2 / train_c2f_stage3: C2F's GCN on the parent's training set."""
from smal4v.stage_log import stage_log
from smal4v.train.c2f_stages import train_c2f_network, uses_offset_truth
from smal4v.train.stages import parent_training_set

with stage_log(snakemake):  # noqa: F821
    p, i, o = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
    dataset = parent_training_set(i.frames, i.annotations, i.silhouettes, p.rehearsal,
                                  i.generic_frames, i.generic_ground_truth, i.generic_images,
                                  uses_offset_truth(p.cfg, p.stage))
    train_c2f_network(p.stage, i.init, i.hierarchy, dataset, p.cfg, p.model, p.keypoint_set, p.seed, p.device,
                      o.model, o.losses, o.curve)
