"""Rule train_image_stage: one image-mode training stage on the training image sets."""
from smal4v.stage_log import stage_log
from smal4v.train.image_stages import stage_settings, train_image_stage

with stage_log(snakemake):  # noqa: F821
    p, i, o = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
    cfg = stage_settings(p.stages, snakemake.wildcards.stage)  # noqa: F821
    init = [i.init] if isinstance(i.init, str) else list(i.init)  # []: a fresh network (images.init: none)
    train_image_stage(i.image_sets, cfg, p.network, p.model, p.seed, p.device, init[0] if init else None, o.model, o.losses, o.curve)
