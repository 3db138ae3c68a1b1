# smal4v workflow: videos with a few annotated frames -> per-frame 3D animal meshes + metrics.
# Stages (one rules/<stage>.smk each, one workflow_scripts/<stage>.py each, logic in smal4v/):
#   demo data -> import_annotations -> extract_frames -> densify_silhouettes -> train_base
#   -> train_parent -> encode_features -> train_online / train_online_single -> predict
#   -> evaluate -> aggregate_metrics, render_overlays
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "config/schema.yaml")


include: "rules/common.smk"
include: "rules/demo.smk"
include: "rules/data.smk"
include: "rules/silhouettes.smk"
include: "rules/parent.smk"
include: "rules/online.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"


rule all:
    input:
        rules.aggregate_metrics.output,
        expand(f"{RESULTS}/sequences/{{seq}}/overlay.mp4", seq=TEST_SEQUENCES),
    default_target: True
