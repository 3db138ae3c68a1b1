# Shared wiring: the sequence sheet, split lists and input functions. No logic beyond lookups.
import os

from smal4v.data.generic_images import GenericImageConfig
from smal4v.data.sheet import load_sequence_sheet, sequences_in_split, synthetic_sequences
from smal4v.model.definitions import definitions_digest
from smal4v.segment.segmenter import needs_osvos_parent
from smal4v.train.c2f_config import trains_per_video

RESULTS = config["results"]
SHEET = load_sequence_sheet(config["sequences"], RESULTS)
GENERIC_SEQUENCES = sequences_in_split(SHEET, "generic")
PARENT_REHEARSAL = float(config["parent"]["rehearsal"])  # > 0: the parent also trains on the generic set
_GENERIC = GenericImageConfig.from_dict(config["generic_images"], "config generic_images")
GENERIC_IMAGES = [f"{RESULTS}/generic/images_{i}.h5" for i in range(_GENERIC.shards)] if _GENERIC.n_images > 0 else []
TRAIN_SEQUENCES = sequences_in_split(SHEET, "train")
TEST_SEQUENCES = sequences_in_split(SHEET, "test")
DENSIFIED_SEQUENCES = list(dict.fromkeys(TRAIN_SEQUENCES + TEST_SEQUENCES))  # silhouettes densified
VARIANTS = config["evaluate"]["variants"]
# a param of each job that uses the model or the keypoint set: editing their files reruns those jobs
DEFINITIONS = definitions_digest(config["model"], config["keypoint_set"])
SEQ_DIR = f"{RESULTS}/sequences/{{seq}}"
CONDA_ENV = "../envs/cpu.yaml"
GPU_CONDA_ENV = "../envs/gpu.yaml"  # rules that compute with torch on config["device"] (a GPU on Slurm)


wildcard_constraints:
    seq="|".join(map(re.escape, SHEET)) if SHEET else "NONE",
    variant="base|parent|online|online_single|refined|c2f|online_c2f",


def sheet_row(wildcards):
    """The sheet row of the sequence a job works on, as a plain dict (rule params)."""
    return vars(SHEET[wildcards.seq])


def annotation_inputs(wildcards):
    """Files a sequence's annotations are read from: keypoints json, masks, ground truth."""
    row = SHEET[wildcards.seq]
    files = {"source": row.source}
    if row.format == "badja":
        files["keypoints"] = row.annotations  # the BADJA json itself
    elif row.format == "animalkey":
        files["keypoints"] = os.path.join(row.annotations or os.path.join(row.source, "anno"), "bboxes.json")
    elif row.annotations:
        files["keypoints"] = os.path.join(row.annotations, "keypoints.json")
    if row.ground_truth:
        files["ground_truth"] = row.ground_truth
    return files


def seq_files(name, seqs):
    """The per-sequence artifact `name` for each of `seqs`."""
    return [f"{RESULTS}/sequences/{s}/{name}" for s in seqs]


def osvos_parent_input(wildcards):
    """The OSVOS parent model, for the densification methods that use one."""
    return [f"{RESULTS}/models/osvos_parent.pt"] if needs_osvos_parent(config["silhouettes"]) else []


def online_c2f_network(wildcards) -> str:
    """The GCN that online_c2f applies: trained on the video itself when c2f.online has epochs."""
    if trains_per_video(config["c2f"]):
        return f"{RESULTS}/models/online_c2f/{wildcards.seq}.pt"
    return f"{RESULTS}/models/c2f.pt"
