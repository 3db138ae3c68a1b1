# Wiring of the image-dataset mode (rules/images.smk): the image-set sheet, its splits, the
# training stages and the input function of a stage. No logic beyond lookups.
from smal4v.data.image_sheet import load_image_sheet
from smal4v.train.image_stages import check_stages

IMAGE_SHEET = load_image_sheet(config["images"]["sheet"]) if config["images"]["sheet"] else {}
IMAGE_TRAIN_SETS = [n for n, r in IMAGE_SHEET.items() if r.split == "train"]
IMAGE_TEST_SETS = [n for n, r in IMAGE_SHEET.items() if r.split == "test"]
IMAGE_STAGES = check_stages(config["images"]["stages"])
IMAGE_VARIANTS = list(config["images"]["variants"]) + [f"images_{s}" for s in IMAGE_STAGES]
IMAGE_DIR = f"{RESULTS}/images/{{imgset}}"
IMAGE_TARGETS = [f"{RESULTS}/summary/image_metrics.csv", f"{RESULTS}/summary/image_metrics.md"] if IMAGE_TEST_SETS else []


wildcard_constraints:
    imgset="|".join(map(re.escape, IMAGE_SHEET)) if IMAGE_SHEET else "NONE",
    stage="|".join(map(re.escape, IMAGE_STAGES)) if IMAGE_STAGES else "NONE",
    imgvariant="|".join(map(re.escape, IMAGE_VARIANTS)) if IMAGE_VARIANTS else "NONE",


def image_stage_init(wildcards):
    """The network a stage starts from: the stage before, or for the first stage base (or
    nothing: a fresh network, with `images.init: none`)."""
    i = IMAGE_STAGES.index(wildcards.stage)
    if i == 0:
        return [f"{RESULTS}/models/base.pt"] if config["images"]["init"] == "base" else []
    return [f"{RESULTS}/models/images_{IMAGE_STAGES[i - 1]}.pt"]
