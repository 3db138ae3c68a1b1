# Report items beyond plots and videos: each video's mesh sequences (all variants) as one
# animated GLB and as a self-contained 3D viewer page, and the variant and per-part tables.


rule export_mesh_animation:
    input:
        frames=f"{SEQ_DIR}/frames.h5",
        predictions=expand(f"{SEQ_DIR}/predictions_{{variant}}.h5", variant=VARIANTS, allow_missing=True),
    output:
        glb=report(f"{SEQ_DIR}/meshes.glb", caption="../report/meshes_glb.rst", category="3D meshes",
                   labels={"sequence": "{seq}", "file": "meshes.glb"}),
        viewer=report(f"{SEQ_DIR}/viewer.html", caption="../report/viewer.rst", category="3D meshes",
                      labels={"sequence": "{seq}", "file": "viewer.html"}),
    params:
        model=config["model"],
        definitions=DEFINITIONS,
        variants=VARIANTS,
    log:
        f"{RESULTS}/logs/export_mesh_animation/{{seq}}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/export_mesh_animation.py"


rule report_tables:
    input:
        table=f"{RESULTS}/summary/metrics.csv",
    output:
        variants=report(f"{RESULTS}/summary/variants.html", caption="../report/variants.rst", category="Metrics"),
        parts=report(f"{RESULTS}/summary/pck_per_part.html", caption="../report/pck_per_part.rst", category="Metrics"),
    params:
        variants=VARIANTS,
    log:
        f"{RESULTS}/logs/report_tables.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/report_tables.py"
