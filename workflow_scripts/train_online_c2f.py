"""Rule train_online_c2f: the trained GCN trained further on one video's own frames (c2f.online)."""
from smal4v.stage_log import stage_log
from smal4v.train.c2f_stages import train_online_c2f_network

with stage_log(snakemake):  # noqa: F821
    p, i, o = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
    train_online_c2f_network(i.init, i.hierarchy, i.frames, i.annotations, i.silhouettes, i.online, p.cfg, p.model,
                             p.keypoint_set, p.seed, p.device, o.model, o.losses, o.curve)
