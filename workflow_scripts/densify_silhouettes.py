"""Rule densify_silhouettes: frames + sparse masks -> silhouettes.h5 (every frame)."""
from smal4v.segment.densify import densify_sequence
from smal4v.stage_log import stage_log

with stage_log(snakemake) as created_by:  # noqa: F821
    cfg = dict(snakemake.params.cfg)  # noqa: F821
    parent = list(snakemake.input.parent)  # noqa: F821  (empty for the flow method)
    if parent:
        cfg["osvos"] = {"device": snakemake.params.device, **cfg.get("osvos", {}), "parent": parent[0]}  # noqa: F821
    densify_sequence(snakemake.input.frames, snakemake.input.annotations,  # noqa: F821
                     snakemake.output.silhouettes, cfg, created_by)  # noqa: F821
