"""Rule train_osvos_parent: training sequences' frames + masks -> the OSVOS parent model
(ground-truth masks of synthetic rows, only the given masks of every other row)."""
from smal4v.segment.osvos import parent_training_pairs, train_parent
from smal4v.stage_log import stage_log

with stage_log(snakemake):  # noqa: F821
    i, p = snakemake.input, snakemake.params  # noqa: F821
    ground_truth = dict(zip(p.synthetic, i.ground_truth))
    pairs = [parent_training_pairs(f, a, ground_truth.get(s)) for s, f, a in zip(p.sequences, i.frames, i.annotations)]
    cfg = {"device": p.device, **p.cfg}
    train_parent([pair for pair in pairs if len(pair[0])], snakemake.output.model, cfg)  # noqa: F821
