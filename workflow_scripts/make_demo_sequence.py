"""Rule make_demo_sequence: render one synthetic demo video with annotations and ground truth."""
from pathlib import Path

from smal4v.data.synthetic import demo_sequence
from smal4v.stage_log import stage_log

with stage_log(snakemake):  # noqa: F821
    p, wc = snakemake.params, snakemake.wildcards  # noqa: F821
    cfg = {**p.cfg, "model": p.model, "keypoint_set": p.keypoint_set}
    demo_sequence(Path(snakemake.output.video).parent, wc.set, wc.seq, cfg, p.seed)  # noqa: F821
