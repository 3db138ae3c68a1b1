"""BADJA/DAVIS importer: a tiny fake layout built in tmp (always) and the shared camel
sequence (skipped when ../shared/data/badja-davis is absent)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml

from smal4v.data import artifacts
from smal4v.data.annotations import SPLIT_HELDOUT, SPLIT_TRAIN, AnnotationError, annotations_to_artifact
from smal4v.data.badja import davis_mask_dir, read_badja_sequence
from smal4v.data.importers import import_sequence
from smal4v.data.video import probe_video
from smal4v.model import load_keypoint_set

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "badja-davis"
CAMEL_JSON = SHARED / "joint_annotations" / "camel.json"
CAMEL_FRAMES = SHARED / "DAVIS" / "JPEGImages" / "480p" / "camel"
KPS = load_keypoint_set("badja20")
NAMES = KPS.names
needs_shared = pytest.mark.skipif(not CAMEL_JSON.is_file(), reason=f"shared BADJA data absent: {SHARED}")

# ---------------------------------------------------------------- fake layout (64x36 = 1920x1080 / 30)
W, H, N = 64, 36, 3


def _entry(stem: str, joints: dict[int, tuple[int, int]], visible: set[int], seq: str = "fake") -> dict:
    rc = [[0, 0]] * 37
    for slot, pt in joints.items():
        rc[slot] = list(pt)
    return {"image_path": f"DAVIS/JPEGImages/Full-Resolution/{seq}/{stem}.jpg",
            "segmentation_path": f"DAVIS/Annotations/Full-Resolution/{seq}/{stem}.png",
            "joints": rc, "visibility": [i in visible for i in range(37)]}


@pytest.fixture
def fake(tmp_path: Path) -> dict:
    """DAVIS/JPEGImages/480p/fake/0000{0,1,2}.jpg + masks + a BADJA json of frames 0 and 2."""
    frames = tmp_path / "DAVIS" / "JPEGImages" / "480p" / "fake"
    masks = tmp_path / "DAVIS" / "Annotations" / "480p" / "fake"
    frames.mkdir(parents=True)
    masks.mkdir(parents=True)
    for i in range(N):
        cv2.imwrite(str(frames / f"{i:05d}.jpg"), np.full((H, W, 3), 40 * i, np.uint8))
        m = np.zeros((H, W), np.uint8)
        m[5 + i:20 + i, 10:40] = 255
        cv2.imwrite(str(masks / f"{i:05d}.png"), m)
    doc = [
        # slot 14 (front_left_paw) visible; slot 8 has coordinates but is not visible; slot 33 (nose)
        # is "visible" with the [0, 0] unannotated marker; slot 36 (left ear) visible.
        _entry("00000", {14: (540, 960), 8: (300, 300), 36: (29, 59)}, {14, 36, 33}),
        _entry("00002", {10: (1079, 1919)}, {10}),
    ]
    js = tmp_path / "joint_annotations" / "fake.json"
    js.parent.mkdir()
    js.write_text(json.dumps(doc))
    return {"json": js, "frames": frames, "masks": masks, "doc": doc, "root": tmp_path}


def test_fake_keypoints_scaled_and_mapped(fake: dict) -> None:
    ann = read_badja_sequence(fake["json"], fake["frames"], "badja20")
    assert ann.image_size == (W, H) and sorted(ann.keypoints) == [0, 2]
    kp0 = ann.keypoints[0]
    paw = NAMES.index("front_left_paw")
    # (row 540, col 960) Full-Resolution pixel -> centre (960.5, 540.5) -> x 1/30
    np.testing.assert_allclose(kp0[paw], [960.5 / 30, 540.5 / 30, 1], atol=1e-4)
    np.testing.assert_allclose(kp0[NAMES.index("left_ear_tip")], [59.5 / 30, 29.5 / 30, 1], atol=1e-4)
    for hidden in ("front_right_leg_top", "nose", "tail_tip"):  # invisible / [0,0] / absent
        assert kp0[NAMES.index(hidden)].tolist() == [0, 0, 0]
    assert kp0[:, 2].sum() == 2
    np.testing.assert_allclose(ann.keypoints[2][NAMES.index("front_right_paw")], [64 - 0.5 / 30, 36 - 0.5 / 30, 1], atol=1e-4)
    assert sorted(ann.masks) == [0, 1, 2]
    assert ann.masks[1].sum() == 15 * 30 and ann.masks[1][6, 10] and not ann.masks[1][5, 10]


def test_fake_import_sequence_thins_given_masks(fake: dict, tmp_path: Path) -> None:
    row = {"name": "fake", "format": "badja", "source": str(fake["frames"]), "annotations": str(fake["json"]),
           "split": "test", "ground_truth": ""}
    cfg = {"heldout_every": 2, "heldout_offset": 1, "mask_every": 2}
    a_path, g_path = tmp_path / "a.h5", tmp_path / "g.h5"
    import_sequence(row, a_path, g_path, cfg, "badja20", NAMES, "test")
    ann = artifacts.read_artifact(a_path, "annotations")
    gt = artifacts.read_artifact(g_path, "ground_truth")
    assert ann["keypoint_split"].tolist() == [SPLIT_TRAIN, 0, SPLIT_HELDOUT]
    assert ann["masks_given"].tolist() == [True, False, True]  # every 2nd DAVIS mask is given ...
    assert not ann["masks"][1].any()
    assert gt["has_mask"].tolist() == [True, True, True]  # ... all of them score
    truth = cv2.imread(str(fake["masks"] / "00001.png"), cv2.IMREAD_GRAYSCALE) > 0
    np.testing.assert_array_equal(gt["masks"][1], truth)


def test_fake_errors_name_the_file(fake: dict) -> None:
    with pytest.raises(AnnotationError, match="missing.json"):
        read_badja_sequence(fake["root"] / "missing.json", fake["frames"])
    bad = fake["root"] / "bad.json"
    bad.write_text(json.dumps([{"image_path": "x/fake/00000.jpg", "joints": [[0, 0]] * 36, "visibility": [False] * 37}]))
    with pytest.raises(AnnotationError, match=r"bad\.json.*entry 0.*joints"):
        read_badja_sequence(bad, fake["frames"])
    absent = fake["root"] / "absent.json"
    absent.write_text(json.dumps([_entry("00007", {14: (5, 5)}, {14})]))
    with pytest.raises(AnnotationError, match=r"absent\.json.*'00007'.*not in the frame folder"):
        read_badja_sequence(absent, fake["frames"])
    other = fake["root"] / "other.json"
    other.write_text(json.dumps([_entry("00000", {14: (5, 5)}, {14}, seq="dog")]))
    with pytest.raises(AnnotationError, match=r"other\.json.*'dog'"):
        read_badja_sequence(other, fake["frames"])
    cv2.imwrite(str(fake["masks"] / "00001.png"), np.zeros((H + 2, W), np.uint8))
    with pytest.raises(AnnotationError, match=r"00001\.png.*size 64x38"):
        read_badja_sequence(fake["json"], fake["frames"])


def test_fake_mask_options_and_wrong_full_size(fake: dict) -> None:
    assert davis_mask_dir(fake["frames"]) == fake["masks"]
    assert read_badja_sequence(fake["json"], fake["frames"], masks="none").masks == {}
    with pytest.raises(AnnotationError, match="does not exist"):
        read_badja_sequence(fake["json"], fake["frames"], masks=str(fake["root"] / "nowhere" / "{name}"))
    with pytest.raises(AnnotationError, match="aspect ratios differ"):
        read_badja_sequence(fake["json"], fake["frames"], full_size=(1920, 1440))
    # a Full-Resolution twin in the tree gives the size; 3840x2160 halves every coordinate
    full = fake["root"] / "DAVIS" / "JPEGImages" / "Full-Resolution" / "fake"
    full.mkdir(parents=True)
    cv2.imwrite(str(full / "00000.jpg"), np.zeros((2160, 3840, 3), np.uint8))
    kp = read_badja_sequence(fake["json"], fake["frames"]).keypoints[0][NAMES.index("front_left_paw")]
    np.testing.assert_allclose(kp[:2], [960.5 / 60, 540.5 / 60], atol=1e-4)


def test_badja_config_files() -> None:
    """config/badja.yaml validates against the schema; its sheet's generic rows are the first of
    the demo's (same names and paths under its own results folder)."""
    from snakemake.utils import validate

    cfg = yaml.safe_load((REPO / "config" / "badja.yaml").read_text())
    validate(cfg, str(REPO / "config" / "schema.yaml"))
    assert cfg["network"]["image_size"] == cfg["frames"]["crop_size"]
    from smal4v.data.synthetic import DEMO_SETS, SynthConfig
    from smal4v.train.config import NetConfig, OnlineTrainConfig, RefineConfig, SingleFrameTrainConfig, split_parent_config
    SynthConfig.from_dict({**DEMO_SETS["generic"], **cfg["demo"]["generic"]})  # unknown keys raise
    NetConfig.from_dict(cfg["network"])
    parent, rehearsal = split_parent_config(cfg["parent"])
    assert rehearsal == 0.0  # one train+test video: plain fine-tuning fits it better (docs/REAL_DATA.md)
    SingleFrameTrainConfig.from_dict(parent, "parent")
    for key, kind in (("base", SingleFrameTrainConfig), ("online", OnlineTrainConfig),
                      ("online_single", OnlineTrainConfig), ("refine", RefineConfig)):
        kind.from_dict(cfg[key], key)
    sheet = pd.read_csv(REPO / cfg["sequences"], sep="\t", dtype=str).fillna("")
    demo = pd.read_csv(REPO / "config" / "sequences.tsv", sep="\t", dtype=str).fillna("")
    generic = sheet[sheet.split == "generic"].reset_index(drop=True)
    expected = demo[demo.split == "generic"].reset_index(drop=True).replace(
        "^results/demo/", cfg["results"] + "/demo/", regex=True)
    assert len(generic) > 0
    pd.testing.assert_frame_equal(generic, expected.iloc[:len(generic)])  # the first of the demo's rows
    camel = sheet.set_index("name").loc["camel"]
    assert camel.format == "badja" and "test" in camel.split
    if CAMEL_JSON.is_file():
        assert (REPO / camel.source).resolve() == CAMEL_FRAMES.resolve()
        assert (REPO / camel.annotations).resolve() == CAMEL_JSON.resolve()


# ---------------------------------------------------------------- shared camel sequence
@pytest.fixture(scope="module")
def camel():
    return read_badja_sequence(CAMEL_JSON, CAMEL_FRAMES, KPS)


@needs_shared
def test_camel_counts_and_sizes(camel) -> None:
    n, size, _ = probe_video(CAMEL_FRAMES)
    assert (n, size) == (90, (854, 480))
    assert camel.image_size == (854, 480)
    assert len(camel.keypoints) == len(json.loads(CAMEL_JSON.read_text())) == 18
    assert sorted(camel.masks) == list(range(90))
    assert all(m.shape == (480, 854) for m in camel.masks.values())


@needs_shared
def test_camel_keypoints_inside_davis_masks(camel) -> None:
    kernel = np.ones((7, 7), np.uint8)  # dilate by 3 px
    inside = total = 0
    for frame, kp in camel.keypoints.items():
        mask = cv2.dilate(camel.masks[frame].astype(np.uint8), kernel) > 0
        for x, y, v in kp:
            if v:
                total += 1
                inside += bool(mask[min(int(y), 479), min(int(x), 853)])
    assert total > 250
    assert inside / total >= 0.9, f"{inside}/{total} visible keypoints inside the dilated DAVIS mask"


@needs_shared
def test_camel_left_right(camel) -> None:
    """Frames 40 and 85: the camel walks away from the camera, so its own left side is on the
    image left. The data puts BADJA slots 22-24 (hind, mapped to back_left_*) and 36 (ear,
    left_ear_tip) to the image left of slots 18-20 / 35 there: badja20's anatomical naming holds."""
    for frame in (40, 85):
        kp = camel.keypoints[frame]

        def mean_x(names: list[str]) -> float:
            idx = [NAMES.index(n) for n in names if kp[NAMES.index(n), 2] > 0]
            return float(kp[idx, 0].mean())

        hind = ["back_{}_leg_top", "back_{}_leg_middle", "back_{}_paw"]
        assert mean_x([h.format("left") for h in hind]) < mean_x([h.format("right") for h in hind]) - 20
        assert mean_x(["left_ear_tip"]) < mean_x(["right_ear_tip"]) - 20


@needs_shared
def test_camel_heldout_alternates_and_masks_given(camel) -> None:
    ds, attrs = annotations_to_artifact(camel, 90, (854, 480), 2, 1, "badja20", NAMES)
    frames = np.flatnonzero(ds["keypoint_split"])
    assert frames.tolist() == sorted(camel.keypoints)
    assert ds["keypoint_split"][frames].tolist() == [SPLIT_TRAIN, SPLIT_HELDOUT] * 9
    assert attrs["keypoint_names"] == NAMES
    from smal4v.data.importers import thin_given_masks
    assert np.flatnonzero(thin_given_masks(ds["masks_given"], 5)).tolist() == list(range(0, 90, 5))
