# Coarse-to-fine (Li & Lee, NeurIPS 2021): the mesh hierarchy of the body model, C2F's training
# stages 2 (GCN alone, parent frozen) and 3 (joint fine-tuning) on the parent's training set,
# and the variants `c2f` (refined single-frame network) and `online_c2f` (the GCN on the online
# estimate of every frame, offsets fused into one shape per video; with c2f.online, not C2F's,
# the GCN is first trained further on the video itself).


# the hierarchy and the parent's training set (rules/parent.smk), rehearsal included
C2F_TRAINING_INPUTS = dict(
    hierarchy=f"{RESULTS}/models/mesh_hierarchy.npz",
    frames=seq_files("frames.h5", TRAIN_SEQUENCES),
    annotations=seq_files("annotations.h5", TRAIN_SEQUENCES),
    silhouettes=seq_files("silhouettes.h5", TRAIN_SEQUENCES),
    generic_frames=seq_files("frames.h5", GENERIC_SEQUENCES) if PARENT_REHEARSAL > 0 else [],
    generic_ground_truth=seq_files("ground_truth.h5", GENERIC_SEQUENCES) if PARENT_REHEARSAL > 0 else [],
    generic_images=GENERIC_IMAGES if PARENT_REHEARSAL > 0 else [],
)


rule build_mesh_hierarchy:
    input:
        # a user's SMAL .pkl: a changed file rebuilds the hierarchy
        model=lambda wildcards: [config["model"]] if str(config["model"]).endswith((".pkl", ".npz")) else [],
    output:
        hierarchy=f"{RESULTS}/models/mesh_hierarchy.npz",
    params:
        model=config["model"],
        definitions=DEFINITIONS,
        cfg=config["c2f"]["hierarchy"],
    log:
        f"{RESULTS}/logs/build_mesh_hierarchy.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/build_mesh_hierarchy.py"


rule train_c2f_stage2:
    input:
        init=f"{RESULTS}/models/parent.pt",
        **C2F_TRAINING_INPUTS,
    output:
        model=f"{RESULTS}/models/c2f_stage2.pt",
        losses=f"{RESULTS}/models/c2f_stage2_losses.csv",
        curve=report(f"{RESULTS}/models/c2f_stage2_losses.png", caption="../report/losses.rst", category="Training"),
    params:
        stage="stage2",
        cfg={k: config["c2f"][k] for k in ("hierarchy", "gcn", "stage2")},  # only what the rule needs
        rehearsal=PARENT_REHEARSAL,
        model=config["model"],
        definitions=DEFINITIONS,
        keypoint_set=config["keypoint_set"],
        seed=config["seed"],
        device=config["device"],
    log:
        f"{RESULTS}/logs/train_c2f_stage2.log",
    threads: 1  # runs beside the per-video training, which keeps every core busy (2 threads: 1.5x, not 2x)
    resources:
        mem_mb=8000,
        runtime=240,
    conda:
        GPU_CONDA_ENV
    script:
        "../workflow_scripts/train_c2f.py"


use rule train_c2f_stage2 as train_c2f_stage3 with:
    input:
        init=f"{RESULTS}/models/c2f_stage2.pt",
        **C2F_TRAINING_INPUTS,
    output:
        model=f"{RESULTS}/models/c2f.pt",
        losses=f"{RESULTS}/models/c2f_stage3_losses.csv",
        curve=report(f"{RESULTS}/models/c2f_stage3_losses.png", caption="../report/losses.rst", category="Training"),
    params:
        stage="stage3",
        cfg={k: config["c2f"][k] for k in ("hierarchy", "gcn", "stage3")},  # only what the rule needs
        rehearsal=PARENT_REHEARSAL,
        model=config["model"],
        definitions=DEFINITIONS,
        keypoint_set=config["keypoint_set"],
        seed=config["seed"],
        device=config["device"],
    log:
        f"{RESULTS}/logs/train_c2f_stage3.log",


rule predict_c2f:
    input:
        network=f"{RESULTS}/models/c2f.pt",
        hierarchy=f"{RESULTS}/models/mesh_hierarchy.npz",
        frames=f"{SEQ_DIR}/frames.h5",
    output:
        predictions=f"{SEQ_DIR}/predictions_c2f.h5",
    params:
        cfg={k: config["c2f"][k] for k in ("hierarchy", "gcn")},  # only what the rule needs
        model=config["model"],
        definitions=DEFINITIONS,
        keypoint_set=config["keypoint_set"],
        device=config["device"],
        fit=config["keypoint_fit"],  # the coarse estimate fitted to its detections, as parent's
    log:
        f"{RESULTS}/logs/predict_c2f/{{seq}}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        GPU_CONDA_ENV
    script:
        "../workflow_scripts/predict_c2f.py"


rule train_online_c2f:
    input:
        init=f"{RESULTS}/models/c2f.pt",
        hierarchy=f"{RESULTS}/models/mesh_hierarchy.npz",
        frames=f"{SEQ_DIR}/frames.h5",
        annotations=f"{SEQ_DIR}/annotations.h5",
        silhouettes=f"{SEQ_DIR}/silhouettes.h5",
        online=f"{SEQ_DIR}/predictions_online.h5",
    output:
        model=f"{RESULTS}/models/online_c2f/{{seq}}.pt",
        losses=f"{SEQ_DIR}/online_c2f_losses.csv",
        curve=report(f"{SEQ_DIR}/online_c2f_losses.png", caption="../report/losses.rst", category="Training"),
    params:
        cfg={k: config["c2f"][k] for k in ("hierarchy", "gcn", "online")},  # only what the rule needs
        model=config["model"],
        definitions=DEFINITIONS,
        keypoint_set=config["keypoint_set"],
        seed=config["seed"],
        device=config["device"],
    log:
        f"{RESULTS}/logs/train_online_c2f/{{seq}}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        GPU_CONDA_ENV
    script:
        "../workflow_scripts/train_online_c2f.py"


rule predict_online_c2f:
    input:
        network=online_c2f_network,
        hierarchy=f"{RESULTS}/models/mesh_hierarchy.npz",
        frames=f"{SEQ_DIR}/frames.h5",
        online=f"{SEQ_DIR}/predictions_online.h5",
    output:
        predictions=f"{SEQ_DIR}/predictions_online_c2f.h5",
    params:
        cfg={k: config["c2f"][k] for k in ("hierarchy", "gcn", "fuse", "fuse_sigma")},  # only what the rule needs
        model=config["model"],
        definitions=DEFINITIONS,
        keypoint_set=config["keypoint_set"],
        device=config["device"],
    log:
        f"{RESULTS}/logs/predict_online_c2f/{{seq}}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        GPU_CONDA_ENV
    script:
        "../workflow_scripts/predict_online_c2f.py"
