# Predictions of the single-frame variants, and per-sequence evaluation of every variant.


rule predict:
    input:
        network=f"{RESULTS}/models/{{variant}}.pt",
        frames=f"{SEQ_DIR}/frames.h5",
    output:
        predictions=f"{SEQ_DIR}/predictions_{{variant}}.h5",
    wildcard_constraints:
        variant="base|parent",
    params:
        model=config["model"],
        definitions=DEFINITIONS,
        keypoint_set=config["keypoint_set"],
        device=config["device"],
        fit=config["keypoint_fit"],
    log:
        f"{RESULTS}/logs/predict/{{seq}}_{{variant}}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        GPU_CONDA_ENV
    script:
        "../workflow_scripts/predict.py"


rule evaluate:
    input:
        predictions=expand(f"{SEQ_DIR}/predictions_{{variant}}.h5", variant=VARIANTS, allow_missing=True),
        annotations=f"{SEQ_DIR}/annotations.h5",
        ground_truth=f"{SEQ_DIR}/ground_truth.h5",
    output:
        metrics=f"{SEQ_DIR}/metrics.csv",
    params:
        cfg=config["evaluate"],
        model=config["model"],
        definitions=DEFINITIONS,
        keypoint_set=config["keypoint_set"],
        variants=VARIANTS,
    log:
        f"{RESULTS}/logs/evaluate/{{seq}}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/evaluate.py"
