"""Rule extract_frames: video or frame folder -> frames.h5 (frames, animal-following crops)."""
from smal4v.data.frames import extract_frames
from smal4v.stage_log import stage_log

with stage_log(snakemake) as created_by:  # noqa: F821
    cfg = snakemake.params.cfg  # noqa: F821
    extract_frames(snakemake.input.source, snakemake.output.frames, crop_size=cfg["crop_size"],  # noqa: F821
                   margin=cfg["margin"], bbox_source=snakemake.input.annotations,  # noqa: F821
                   max_frames=cfg.get("max_frames"), smooth_sigma=cfg["smooth"], created_by=created_by)
