"""Rule render_generic_images: one shard of the base network's generic training images."""
from smal4v.data.generic_images import write_generic_shard
from smal4v.stage_log import stage_log
from smal4v.train.config import NetConfig

with stage_log(snakemake) as created_by:  # noqa: F821
    p = snakemake.params  # noqa: F821
    shard = int(snakemake.wildcards.shard)  # noqa: F821
    image_size = NetConfig.from_dict(dict(p.network), "network").image_size
    write_generic_shard(snakemake.output.images, p.cfg, shard, image_size, p.model, p.keypoint_set,  # noqa: F821
                        p.seed, created_by)
