"""Rule export_mesh_animation: every variant's meshes of one video -> animated GLB + 3D viewer page."""
from smal4v.evaluate.overlays import VARIANT_COLOURS
from smal4v.report.glb import write_animated_glb
from smal4v.report.mesh_sequence import read_mesh_sequence
from smal4v.report.viewer import write_viewer_html
from smal4v.stage_log import stage_log

with stage_log(snakemake):  # noqa: F821
    p, i, o = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
    sequence = read_mesh_sequence(i.frames, dict(zip(p.variants, i.predictions)), p.model)
    write_animated_glb(o.glb, sequence, VARIANT_COLOURS)
    write_viewer_html(o.viewer, sequence, VARIANT_COLOURS, f"{snakemake.wildcards.seq}: meshes of every variant")  # noqa: F821
