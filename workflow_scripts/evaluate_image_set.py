"""Rule evaluate_image_set: one network on one test image set, with the published protocol."""
from smal4v.evaluate.image_protocol import evaluate_image_set
from smal4v.stage_log import stage_log

with stage_log(snakemake) as created_by:  # noqa: F821
    p, i, o, w = snakemake.params, snakemake.input, snakemake.output, snakemake.wildcards  # noqa: F821
    evaluate_image_set(i.network, i.images, w.imgset, w.imgvariant, p.model, p.device, o.predictions, o.metrics,
                       float(p.alpha), created_by)
