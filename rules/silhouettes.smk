# Silhouette densification: a mask for every frame from the few annotated ones (flow
# propagation, OSVOS one-shot segmentation, or both fused), and its evaluation.


rule train_osvos_parent:
    input:
        frames=seq_files("frames.h5", GENERIC_SEQUENCES + TRAIN_SEQUENCES),
        annotations=seq_files("annotations.h5", GENERIC_SEQUENCES + TRAIN_SEQUENCES),
        # ground truth of synthetic rows only: a real video's masks beyond the given ones must
        # not train the parent that then densifies that video
        ground_truth=seq_files("ground_truth.h5", synthetic_sequences(SHEET, GENERIC_SEQUENCES + TRAIN_SEQUENCES)),
    output:
        model=f"{RESULTS}/models/osvos_parent.pt",
    params:
        sequences=GENERIC_SEQUENCES + TRAIN_SEQUENCES,
        synthetic=synthetic_sequences(SHEET, GENERIC_SEQUENCES + TRAIN_SEQUENCES),
        cfg=config["osvos_parent"],
        device=config["device"],
    log:
        f"{RESULTS}/logs/train_osvos_parent.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    conda:
        GPU_CONDA_ENV
    script:
        "../workflow_scripts/train_osvos_parent.py"


rule densify_silhouettes:
    input:
        frames=f"{SEQ_DIR}/frames.h5",
        annotations=f"{SEQ_DIR}/annotations.h5",
        parent=osvos_parent_input,
    output:
        silhouettes=f"{SEQ_DIR}/silhouettes.h5",
    params:
        cfg=config["silhouettes"],
        device=config["device"],
    log:
        f"{RESULTS}/logs/densify_silhouettes/{{seq}}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        GPU_CONDA_ENV
    script:
        "../workflow_scripts/densify_silhouettes.py"


rule evaluate_silhouettes:
    input:
        silhouettes=f"{SEQ_DIR}/silhouettes.h5",
        annotations=f"{SEQ_DIR}/annotations.h5",
        ground_truth=f"{SEQ_DIR}/ground_truth.h5",
    output:
        metrics=f"{SEQ_DIR}/silhouette_metrics.csv",
    log:
        f"{RESULTS}/logs/evaluate_silhouettes/{{seq}}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/evaluate_silhouettes.py"
