"""Rule build_mesh_hierarchy: the body model's mesh hierarchy for the coarse-to-fine GCN."""
from smal4v.stage_log import stage_log
from smal4v.train.c2f_stages import build_hierarchy_file

with stage_log(snakemake):  # noqa: F821
    p = snakemake.params  # noqa: F821
    build_hierarchy_file(p.model, p.cfg, snakemake.output.hierarchy)  # noqa: F821
