# Image-dataset mode (StanfordExtra, Animal Pose, AnimalKey frames, TigDog; rows of the image-set
# sheet `images.sheet`): one import job per image set (a split), the single-frame network
# fine-tuned on the training sets stage by stage (`images.stages`), and every test set evaluated
# with the published protocol (PCK@0.15 by sqrt mask area, per part, padding-ignoring IoU).

rule import_image_set:
    input:
        lambda wc: IMAGE_SHEET[wc.imgset].input_files(),
    output:
        images=f"{IMAGE_DIR}/images.h5",
    params:
        row=lambda wc: vars(IMAGE_SHEET[wc.imgset]),
        size=config["network"]["image_size"],
        margin=config["images"]["margin"],
    log:
        f"{RESULTS}/logs/import_image_set/{{imgset}}.log",
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/import_image_set.py"


rule train_image_stage:
    input:
        init=image_stage_init,
        image_sets=expand(f"{RESULTS}/images/{{imgset}}/images.h5", imgset=IMAGE_TRAIN_SETS),
    output:
        model=f"{RESULTS}/models/images_{{stage}}.pt",
        losses=f"{RESULTS}/models/images_{{stage}}_losses.csv",
        curve=report(f"{RESULTS}/models/images_{{stage}}_losses.png", category="Training"),
    params:
        stages=config["images"]["stages"],
        network=config["network"],
        model=config["model"],
        definitions=DEFINITIONS,
        seed=config["seed"],
        device=config["device"],
    log:
        f"{RESULTS}/logs/train_image_stage/{{stage}}.log",
    threads: 2
    resources:
        mem_mb=16000,
        runtime=1440,
    conda:
        GPU_CONDA_ENV
    script:
        "../workflow_scripts/train_image_stage.py"


rule evaluate_image_set:
    input:
        network=f"{RESULTS}/models/{{imgvariant}}.pt",
        images=f"{IMAGE_DIR}/images.h5",
    output:
        predictions=f"{IMAGE_DIR}/predictions_{{imgvariant}}.h5",
        metrics=f"{IMAGE_DIR}/metrics_{{imgvariant}}.csv",
    params:
        model=config["model"],
        definitions=DEFINITIONS,
        device=config["device"],
        alpha=config["images"]["alpha"],
    log:
        f"{RESULTS}/logs/evaluate_image_set/{{imgset}}_{{imgvariant}}.log",
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    conda:
        GPU_CONDA_ENV
    script:
        "../workflow_scripts/evaluate_image_set.py"


rule aggregate_image_metrics:
    input:
        expand(f"{RESULTS}/images/{{imgset}}/metrics_{{imgvariant}}.csv", imgset=IMAGE_TEST_SETS, imgvariant=IMAGE_VARIANTS),
    output:
        table=f"{RESULTS}/summary/image_metrics.csv",
        wide=f"{RESULTS}/summary/image_metrics.md",
    log:
        f"{RESULTS}/logs/aggregate_image_metrics.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/aggregate_image_metrics.py"
