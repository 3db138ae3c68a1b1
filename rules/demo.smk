# Synthetic demo videos (the bundled default data): one job per sequence of the sheet whose
# source lies under <results>/demo/<set>/<seq>/.


rule make_demo_sequence:
    output:
        video=f"{RESULTS}/demo/{{set}}/{{seq}}/video.mp4",
        keypoints=f"{RESULTS}/demo/{{set}}/{{seq}}/annotations/keypoints.json",
        ground_truth=f"{RESULTS}/demo/{{set}}/{{seq}}/ground_truth.h5",
    params:
        cfg=lambda wc: config["demo"][wc.set],
        model=config["model"],
        definitions=DEFINITIONS,
        keypoint_set=config["keypoint_set"],
        seed=config["seed"],
    wildcard_constraints:
        set="generic|dataset",
    log:
        f"{RESULTS}/logs/make_demo_sequence/{{set}}/{{seq}}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        CONDA_ENV
    script:
        "../workflow_scripts/make_demo_sequence.py"
