# Single-frame networks: `base` (generic synthetic set, full 3D supervision) and `parent`
# (base fine-tuned on the annotated frames of the dataset's training sequences).


rule render_generic_images:
    output:
        images=f"{RESULTS}/generic/images_{{shard}}.h5",
    params:
        cfg=config["generic_images"],
        network=config["network"],
        model=config["model"],
        definitions=DEFINITIONS,
        keypoint_set=config["keypoint_set"],
        seed=config["seed"],
    wildcard_constraints:
        shard=r"\d+",
    log:
        f"{RESULTS}/logs/render_generic_images/{{shard}}.log",
    threads: 1
    resources:
        mem_mb=3000,
        runtime=60,
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/render_generic_images.py"


rule train_base:
    input:
        images=GENERIC_IMAGES,
        frames=seq_files("frames.h5", GENERIC_SEQUENCES),
        ground_truth=seq_files("ground_truth.h5", GENERIC_SEQUENCES),
        annotations=seq_files("annotations.h5", GENERIC_SEQUENCES),
    output:
        model=f"{RESULTS}/models/base.pt",
        losses=f"{RESULTS}/models/base_losses.csv",
        curve=report(f"{RESULTS}/models/base_losses.png", caption="../report/losses.rst", category="Training"),
    params:
        cfg=config["base"],
        network=config["network"],
        model=config["model"],
        definitions=DEFINITIONS,
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
        GPU_CONDA_ENV
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
        generic_images=GENERIC_IMAGES if PARENT_REHEARSAL > 0 else [],
    output:
        model=f"{RESULTS}/models/parent.pt",
        losses=f"{RESULTS}/models/parent_losses.csv",
        curve=report(f"{RESULTS}/models/parent_losses.png", caption="../report/losses.rst", category="Training"),
    params:
        cfg=config["parent"],
        network=config["network"],
        model=config["model"],
        definitions=DEFINITIONS,
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
        GPU_CONDA_ENV
    script:
        "../workflow_scripts/train_parent.py"
