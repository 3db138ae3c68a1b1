"""Rule train_osvos_parent: training sequences' frames + masks -> the OSVOS parent model."""
from smal4v.segment.osvos import parent_training_pairs, train_parent
from smal4v.stage_log import stage_log

with stage_log(snakemake):  # noqa: F821
    i = snakemake.input  # noqa: F821
    gts = list(i.ground_truth) if "ground_truth" in i.keys() else [None] * len(i.frames)
    pairs = [parent_training_pairs(f, a, g) for f, a, g in zip(i.frames, i.annotations, gts)]
    cfg = {"device": snakemake.params.device, **snakemake.params.cfg}  # noqa: F821
    train_parent([p for p in pairs if len(p[0])], snakemake.output.model, cfg)  # noqa: F821
