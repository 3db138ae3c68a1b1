# Silhouette densification: a mask for every frame from the few annotated ones.


rule densify_silhouettes:
    input:
        frames=f"{SEQ_DIR}/frames.h5",
        annotations=f"{SEQ_DIR}/annotations.h5",
    output:
        silhouettes=f"{SEQ_DIR}/silhouettes.h5",
    params:
        cfg=config["silhouettes"],
    log:
        f"{RESULTS}/logs/densify_silhouettes/{{seq}}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/densify_silhouettes.py"
