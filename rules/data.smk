# Sequence import: annotations (+ ground truth when the dataset has it) and frames with crops.


rule import_annotations:
    input:
        unpack(annotation_inputs),
    output:
        annotations=f"{SEQ_DIR}/annotations.h5",
        ground_truth=f"{SEQ_DIR}/ground_truth.h5",
    params:
        row=sheet_row,
        cfg={**config["annotations"], "max_frames": config["frames"]["max_frames"]},
        keypoint_set=config["keypoint_set"],
        definitions=DEFINITIONS,
    log:
        f"{RESULTS}/logs/import_annotations/{{seq}}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/import_annotations.py"


rule extract_frames:
    input:
        source=lambda wc: SHEET[wc.seq].source,
        annotations=f"{SEQ_DIR}/annotations.h5",
    output:
        frames=f"{SEQ_DIR}/frames.h5",
    params:
        row=sheet_row,
        cfg=config["frames"],
    log:
        f"{RESULTS}/logs/extract_frames/{{seq}}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/extract_frames.py"
