# Aggregation over sequences (tidy metrics table + plots) and pictures for people.


rule aggregate_metrics:
    input:
        metrics=seq_files("metrics.csv", TEST_SEQUENCES) + seq_files("silhouette_metrics.csv", DENSIFIED_SEQUENCES),
    output:
        table=report(f"{RESULTS}/summary/metrics.csv", caption="../report/metrics_table.rst", category="Metrics"),
        means=report(f"{RESULTS}/summary/metrics_mean.csv", caption="../report/metrics_mean.rst", category="Metrics"),
        plots=report(
            directory(f"{RESULTS}/summary/plots"),
            patterns=["{name}.png"],
            caption="../report/plots.rst",
            category="Metrics",
        ),
    params:
        variants=VARIANTS,
    log:
        f"{RESULTS}/logs/aggregate_metrics.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/aggregate_metrics.py"


rule render_overlays:
    input:
        frames=f"{SEQ_DIR}/frames.h5",
        annotations=f"{SEQ_DIR}/annotations.h5",
        predictions=expand(f"{SEQ_DIR}/predictions_{{variant}}.h5", variant=VARIANTS, allow_missing=True),
    output:
        video=report(f"{SEQ_DIR}/overlay.mp4", caption="../report/overlay.rst", category="Overlays"),
        gif=f"{SEQ_DIR}/overlay.gif",
        meshes=directory(f"{SEQ_DIR}/meshes_online"),
    params:
        cfg=config["overlays"],
        model=config["model"],
        definitions=DEFINITIONS,
        variants=VARIANTS,
    log:
        f"{RESULTS}/logs/render_overlays/{{seq}}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/render_overlays.py"
