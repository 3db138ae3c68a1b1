# Per-video online training on top of the parent: SMAL4V's temporal network (`online`) and the
# same per-video training without the GRU (`online_single`, the thesis's missing ablation).


rule encode_features:
    input:
        parent=f"{RESULTS}/models/parent.pt",
        frames=f"{SEQ_DIR}/frames.h5",
        annotations=f"{SEQ_DIR}/annotations.h5",  # detector_adaptation: the video's training keypoints
        silhouettes=f"{SEQ_DIR}/silhouettes.h5",  # ... and their masks
    output:
        features=f"{SEQ_DIR}/features.h5",
    params:
        adaptation=config["detector_adaptation"],
        model=config["model"],
        definitions=DEFINITIONS,
        keypoint_set=config["keypoint_set"],
        seed=config["seed"],
        device=config["device"],
    log:
        f"{RESULTS}/logs/encode_features/{{seq}}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        GPU_CONDA_ENV
    script:
        "../workflow_scripts/encode_features.py"


rule train_online:
    input:
        parent=f"{RESULTS}/models/parent.pt",
        features=f"{SEQ_DIR}/features.h5",
        frames=f"{SEQ_DIR}/frames.h5",
        annotations=f"{SEQ_DIR}/annotations.h5",
        silhouettes=f"{SEQ_DIR}/silhouettes.h5",
    output:
        model=f"{RESULTS}/models/online/{{seq}}.pt",
        predictions=f"{SEQ_DIR}/predictions_online.h5",
        losses=f"{SEQ_DIR}/online_losses.csv",
        curve=report(f"{SEQ_DIR}/online_losses.png", caption="../report/losses.rst", category="Training"),
    params:
        cfg=config["online"],
        model=config["model"],
        definitions=DEFINITIONS,
        keypoint_set=config["keypoint_set"],
        seed=config["seed"],
        device=config["device"],
        variant="online",
    log:
        f"{RESULTS}/logs/train_online/{{seq}}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    conda:
        GPU_CONDA_ENV
    script:
        "../workflow_scripts/train_online.py"


use rule train_online as train_online_single with:
    output:
        model=f"{RESULTS}/models/online_single/{{seq}}.pt",
        predictions=f"{SEQ_DIR}/predictions_online_single.h5",
        losses=f"{SEQ_DIR}/online_single_losses.csv",
        curve=report(f"{SEQ_DIR}/online_single_losses.png", caption="../report/losses.rst", category="Training"),
    params:
        cfg=config["online_single"],
        model=config["model"],
        definitions=DEFINITIONS,
        keypoint_set=config["keypoint_set"],
        seed=config["seed"],
        device=config["device"],
        variant="online_single",
    log:
        f"{RESULTS}/logs/train_online_single/{{seq}}.log",


rule refine:
    # Per-video mesh refinement on top of the online network (variant `refined`): symmetric,
    # smooth vertex offsets and smooth per-frame pose corrections against the same targets.
    input:
        predictions=f"{SEQ_DIR}/predictions_online.h5",
        frames=f"{SEQ_DIR}/frames.h5",
        annotations=f"{SEQ_DIR}/annotations.h5",
        silhouettes=f"{SEQ_DIR}/silhouettes.h5",
        features=f"{SEQ_DIR}/features.h5",  # the keypoint detections (refine weights.head_detections)
    output:
        predictions=f"{SEQ_DIR}/predictions_refined.h5",
        losses=f"{SEQ_DIR}/refined_losses.csv",
        curve=report(f"{SEQ_DIR}/refined_losses.png", caption="../report/losses.rst", category="Training"),
    params:
        cfg=config["refine"],
        model=config["model"],
        definitions=DEFINITIONS,
        keypoint_set=config["keypoint_set"],
        seed=config["seed"],
        device=config["device"],
    log:
        f"{RESULTS}/logs/refine/{{seq}}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        GPU_CONDA_ENV
    script:
        "../workflow_scripts/refine.py"
