"""Rule import_annotations: a sheet row -> annotations.h5 + ground_truth.h5."""
from smal4v.data.importers import import_sequence
from smal4v.model import load_keypoint_set
from smal4v.stage_log import stage_log

with stage_log(snakemake) as created_by:  # noqa: F821
    p = snakemake.params  # noqa: F821
    names = load_keypoint_set(p.keypoint_set).names
    import_sequence(p.row, snakemake.output.annotations, snakemake.output.ground_truth, p.cfg,  # noqa: F821
                    p.keypoint_set, names, created_by)
