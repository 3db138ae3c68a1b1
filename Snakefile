# smal4v workflow: videos with a few annotated frames -> per-frame 3D animal meshes + metrics.
# Stages (one rules/<stage>.smk each, one workflow_scripts/<stage>.py each, logic in smal4v/):
#   demo data -> import_annotations -> extract_frames -> densify_silhouettes -> train_base
#   -> train_parent -> encode_features -> train_online / train_online_single -> predict
#   -> evaluate -> aggregate_metrics, render_overlays, report_tables, export_mesh_animation
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


report: "report/workflow.rst"


validate(config, "config/schema.yaml")


onstart:
    # the free subtrees (networks, training, segmentation, demo generators) are checked against
    # their settings before any job runs, so a typo anywhere stops the run (smal4v/config_check.py)
    from smal4v.config_check import check_settings

    check_settings(config)


include: "rules/common.smk"
include: "rules/images_common.smk"
include: "rules/demo.smk"
include: "rules/data.smk"
include: "rules/silhouettes.smk"
include: "rules/parent.smk"
include: "rules/online.smk"
include: "rules/c2f.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"
include: "rules/viewer.smk"
include: "rules/images.smk"


rule all:
    input:
        rules.aggregate_metrics.output if TEST_SEQUENCES else [],
        expand(f"{RESULTS}/sequences/{{seq}}/overlay.mp4", seq=TEST_SEQUENCES),
        expand(f"{RESULTS}/sequences/{{seq}}/{{name}}", seq=TEST_SEQUENCES, name=["meshes.glb", "viewer.html"]),
        rules.report_tables.output if TEST_SEQUENCES else [],
        IMAGE_TARGETS,
    default_target: True
