# Single-frame networks: `base` (generic synthetic set, full 3D supervision) and `parent`
# (base fine-tuned on the annotated frames of the dataset's training sequences).


rule train_base:
    input:
        frames=seq_files("frames.h5", GENERIC_SEQUENCES),
        ground_truth=seq_files("ground_truth.h5", GENERIC_SEQUENCES),
        annotations=seq_files("annotations.h5", GENERIC_SEQUENCES),
    output:
        model=f"{RESULTS}/models/base.pt",
        losses=f"{RESULTS}/models/base_losses.csv",
        curve=report(f"{RESULTS}/models/base_losses.png", category="Training"),
    params:
        cfg=config["base"],
        network=config["network"],
        model=config["model"],
        keypoint_set=config["keypoint_set"],
        seed=config["seed"],
        device=config["device"],
    log:
        f"{RESULTS}/logs/train_base.log",
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/train_base.py"


rule train_parent:
    input:
        base=f"{RESULTS}/models/base.pt",
        frames=seq_files("frames.h5", TRAIN_SEQUENCES),
        annotations=seq_files("annotations.h5", TRAIN_SEQUENCES),
        silhouettes=seq_files("silhouettes.h5", TRAIN_SEQUENCES),
        # rehearsal: the base's generic set (with its 3D truth) is mixed into every epoch
        generic_frames=seq_files("frames.h5", GENERIC_SEQUENCES) if PARENT_REHEARSAL > 0 else [],
        generic_ground_truth=seq_files("ground_truth.h5", GENERIC_SEQUENCES) if PARENT_REHEARSAL > 0 else [],
    output:
        model=f"{RESULTS}/models/parent.pt",
        losses=f"{RESULTS}/models/parent_losses.csv",
        curve=report(f"{RESULTS}/models/parent_losses.png", category="Training"),
    params:
        cfg=config["parent"],
        network=config["network"],
        model=config["model"],
        keypoint_set=config["keypoint_set"],
        seed=config["seed"],
        device=config["device"],
    log:
        f"{RESULTS}/logs/train_parent.log",
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/train_parent.py"
