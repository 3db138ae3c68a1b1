"""Rule import_image_set: one row of the image-set sheet -> images.h5 (crops, keypoints, masks)."""
from smal4v.data.image_dataset import write_image_set
from smal4v.data.image_sheet import ImageSetRow, read_records
from smal4v.stage_log import stage_log

with stage_log(snakemake) as created_by:  # noqa: F821
    p = snakemake.params  # noqa: F821
    row = ImageSetRow(**p.row)
    write_image_set(read_records(row), snakemake.output.images, row.keypoint_set, int(p.size),  # noqa: F821
                    float(p.margin), source=row.source, created_by=created_by)
