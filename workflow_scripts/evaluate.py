"""Rule evaluate: every variant's predictions of one sequence -> metrics.csv (tidy)."""
from smal4v.evaluate.stage import evaluate_sequence
from smal4v.model import load_keypoint_set
from smal4v.stage_log import stage_log

with stage_log(snakemake):  # noqa: F821
    p, i = snakemake.params, snakemake.input  # noqa: F821
    keypoints = load_keypoint_set(p.keypoint_set)
    swaps = [(keypoints.names.index(a), keypoints.names.index(b)) for a, b in p.cfg["interchangeable"]]
    table = evaluate_sequence(snakemake.wildcards.seq, dict(zip(p.variants, i.predictions)),  # noqa: F821
                              i.annotations, i.ground_truth, p.cfg["alphas"], keypoints.parts, swaps)
    table.to_csv(snakemake.output.metrics, index=False)  # noqa: F821
