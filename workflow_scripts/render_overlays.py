"""Rule render_overlays: input | variants side by side (MP4 + GIF) and OBJ meshes per frame."""
from smal4v.evaluate.overlays import render_sequence_overlays
from smal4v.stage_log import stage_log

with stage_log(snakemake):  # noqa: F821
    p, i, o = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
    render_sequence_overlays(i.frames, i.annotations, dict(zip(p.variants, i.predictions)), p.model, p.cfg,
                             o.video, o.gif, o.meshes)
