"""Tiny datasets in the exact published layouts (METHOD.md 6), written into a test's tmp_path:
StanfordExtra / Animal Pose (json + COCO RLE + split .npy), AnimalKey (temporal and single-frame
layouts with keypoint pickles) and TigDog (.mat files). Each image shows one bright ellipse (the
"animal") on a dark background; its mask and box are what the annotations say."""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import scipy.io
from pycocotools import mask as mask_utils

W, H = 80, 60


def animal_mask(seed: int, w: int = W, h: int = H) -> np.ndarray:
    """(H, W) bool ellipse at a seed-dependent place."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((h, w), np.uint8)
    centre = (int(rng.integers(30, w - 30)), int(rng.integers(22, h - 22)))
    cv2.ellipse(mask, centre, (int(rng.integers(14, 22)), int(rng.integers(8, 14))), 0, 0, 360, 1, -1)
    return mask.astype(bool)


def write_image(path: Path, mask: np.ndarray) -> None:
    """A JPEG/PNG of the mask as a bright animal on a dark background."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.full((*mask.shape, 3), 40, np.uint8)
    img[mask] = (200, 180, 150)
    cv2.imwrite(str(path), img)


def keypoints_in(mask: np.ndarray, k: int, seed: int, invisible: tuple[int, ...] = ()) -> np.ndarray:
    """(k, 3) [x, y, visible] inside the mask; rows ``invisible`` have visible 0 and x = y = 0."""
    rng = np.random.default_rng(seed)
    ys, xs = np.nonzero(mask)
    pick = rng.integers(0, len(xs), k)
    kp = np.column_stack([xs[pick] + 0.5, ys[pick] + 0.5, np.ones(k)])
    kp[list(invisible)] = 0
    return kp


def rle_counts(mask: np.ndarray) -> str:
    """COCO compressed-RLE counts string of a bool mask (as StanfordExtra stores it)."""
    return mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))["counts"].decode("ascii")


@dataclass
class StanfordExtraFixture:
    json: Path
    images: Path
    splits: dict[str, Path]
    masks: list[np.ndarray]
    entries: list[dict]


def write_stanfordextra(root: Path, n: int = 6, splits: dict[str, list[int]] | None = None,
                        no_seg: tuple[int, ...] = (4,), dict_seg: tuple[int, ...] = (1,)) -> StanfordExtraFixture:
    """``root/StanfordExtra_v12.json``, ``root/Images/<breed>/<name>.jpg`` and split .npy files.
    Entries in ``no_seg`` have no segmentation; ``dict_seg`` store the RLE as {size, counts}."""
    splits = splits or {"train": [0, 2, 3], "test": [5, 1, 4]}
    images = root / "Images"
    entries, masks = [], []
    for i in range(n):
        mask = animal_mask(i)
        rel = f"n02085620-Chihuahua/n02085620_{i:04d}.jpg"
        write_image(images / rel, mask)
        ys, xs = np.nonzero(mask)
        bbox = [int(xs.min()), int(ys.min()), int(xs.max() + 1 - xs.min()), int(ys.max() + 1 - ys.min())]
        entry = {"img_path": rel, "img_width": W, "img_height": H,
                 "joints": keypoints_in(mask, 24, i, invisible=(13, 18, 19)).tolist(), "img_bbox": bbox,
                 "is_multiple_dogs": False, "ear_tips_labelled": False, "has_segmentation": i not in no_seg}
        if i not in no_seg:
            counts = rle_counts(mask)
            entry["seg"] = {"size": [H, W], "counts": counts} if i in dict_seg else counts
        entries.append(entry)
        masks.append(mask)
    json_path = root / "StanfordExtra_v12.json"
    json_path.write_text(json.dumps(entries))
    split_paths = {}
    for name, idx in splits.items():
        split_paths[name] = root / f"{name}_stanford_StanfordExtra_v12.npy"
        np.save(split_paths[name], np.asarray(idx, dtype=np.int64))
    return StanfordExtraFixture(json_path, images, split_paths, masks, entries)


def write_animal_pose(root: Path, n: int = 3) -> StanfordExtraFixture:
    """WLDO's Animal Pose layout: ``animal_pose_data.json``, ``test_animal_pose.npy`` (int32), ``Images/``."""
    fx = write_stanfordextra(root, n, {"test": list(range(n))}, no_seg=(), dict_seg=())
    for e in fx.entries:
        e["img_path"] = f"2007_{fx.entries.index(e):06d}.jpg"
        write_image(fx.images / e["img_path"], fx.masks[fx.entries.index(e)])
    json_path = root / "animal_pose_data.json"
    json_path.write_text(json.dumps(fx.entries))
    split = root / "test_animal_pose.npy"
    np.save(split, np.arange(n, dtype=np.int32))
    return StanfordExtraFixture(json_path, fx.images, {"test": split}, fx.masks, fx.entries)


def save_keypoints(path: Path, kp: np.ndarray) -> None:
    """An AnimalKey keypoint pickle: the plain numpy array."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(np.asarray(kp), fh)


def write_mask(path: Path, mask: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), mask.astype(np.uint8) * 255)


@dataclass
class AnimalKeySequence:
    folder: Path
    frames: list[str]  # file names in AnimalKey order
    masks: list[np.ndarray]
    keypoints: dict[int, np.ndarray]  # frame index -> (30, 3)


def write_animalkey_sequence(folder: Path, numbers: tuple[int, ...] = (1, 2, 10, 11), annotated: tuple[int, ...] = (0, 2, 3),
                             gt_masks: tuple[int, ...] = (0, 2), osvos: bool = True) -> AnimalKeySequence:
    """``seqNNN[_test]/cow_<n>.jpg`` frames (numbers sort differently as text: 1, 10, 11, 2),
    ``anno/bboxes.json`` keyed alternately with and without ``.jpg``, sparse keypoint pickles of
    frames ``annotated`` (positions), sparse ``masks_gt`` and dense ``masks_osvos``."""
    names, masks, keypoints, boxes = [], [], {}, {}
    for i, number in enumerate(numbers):
        name = f"cow_{number}.jpg"
        mask = animal_mask(100 + i)
        write_image(folder / name, mask)
        ys, xs = np.nonzero(mask)
        boxes[name if i % 2 == 0 else name[:-4]] = [float(xs.min()), float(ys.min()), float(np.ptp(xs) + 1), float(np.ptp(ys) + 1)]
        names.append(name)
        masks.append(mask)
        if i in annotated:
            keypoints[i] = keypoints_in(mask, 30, 200 + i, invisible=(5, 29))
            save_keypoints(folder / "anno" / "keypoints_gt" / f"cow_{number}.pkl", keypoints[i])
        if i in gt_masks:
            write_mask(folder / "anno" / "masks_gt" / f"cow_{number}.png", mask)
        if osvos:
            write_mask(folder / "anno" / "masks_osvos" / f"cow_{number}.png", mask)
    (folder / "anno" / "bboxes.json").write_text(json.dumps(boxes))
    return AnimalKeySequence(folder, names, masks, keypoints)


def write_animalkey_frames(folder: Path, sequences: tuple[int, ...] = (100, 295, 301), per_sequence: int = 2,
                           unmasked: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """``_frames/img/seqNNN_<k>.jpg`` + ``kp/<name>.pkl`` + ``mask/<name>.png`` + ``bboxes.json``;
    returns the keypoints by image name. Images in ``unmasked`` get no mask."""
    keypoints, boxes = {}, {}
    for s in sequences:
        for k in range(per_sequence):
            stem = f"seq{s}_{k:05d}"
            mask = animal_mask(s + k)
            write_image(folder / "img" / f"{stem}.jpg", mask)
            keypoints[f"{stem}.jpg"] = keypoints_in(mask, 30, s * 7 + k)
            save_keypoints(folder / "kp" / f"{stem}.pkl", keypoints[f"{stem}.jpg"])
            if f"{stem}.jpg" not in unmasked:
                write_mask(folder / "mask" / f"{stem}.png", mask)
            boxes[stem] = [0.0, 0.0, float(W), float(H)]
    (folder / "bboxes.json").write_text(json.dumps(boxes))
    return keypoints


@dataclass
class TigDogFixture:
    root: Path
    frames: Path
    ranges: np.ndarray
    landmarks: dict[int, np.ndarray]  # annotation id -> (n, 19, 3) MATLAB coordinates
    masks: dict[int, list[np.ndarray]]


def write_tigdog(root: Path, animal: str = "tiger", ranges: tuple[tuple[int, int, int], ...] = ((3, 1, 3), (7, 5, 6)),
                 empty: tuple[tuple[int, int], ...] = ((7, 1),)) -> TigDogFixture:
    """``<animal>/<frame>.jpg`` (frames 1..max), ``ranges/<animal>/ranges.mat``,
    ``landmarks/<animal>/<id>.mat`` (cell n x {kp, vis}) and ``<animal>Seg/seg<id>.mat`` (cell of
    masks); the (id, position) pairs in ``empty`` get an empty mask."""
    frames = root / animal
    last = max(r[2] for r in ranges)
    for number in range(1, last + 1):
        write_image(frames / f"{number:08d}.jpg", animal_mask(300 + number))
    landmarks, masks = {}, {}
    for ann_id, first, end in ranges:
        n = end - first + 1
        cells = np.empty((n, 2), dtype=object)
        segs = np.empty((n,), dtype=object)
        lm = np.zeros((n, 19, 3))
        seq_masks = []
        for f in range(n):
            mask = animal_mask(300 + first + f) & ((ann_id, f) not in empty)
            kp = keypoints_in(animal_mask(300 + first + f), 19, ann_id * 10 + f, invisible=(4,))
            kp[kp[:, 2] > 0, :2] += 0.5  # MATLAB 1-based coordinates
            cells[f, 0], cells[f, 1] = kp[:, :2], kp[:, 2:].astype(np.uint8)
            segs[f] = mask.astype(np.uint8)
            lm[f] = kp
            seq_masks.append(mask)
        (root / "landmarks" / animal).mkdir(parents=True, exist_ok=True)
        scipy.io.savemat(str(root / "landmarks" / animal / f"{ann_id}.mat"), {"landmarks": cells})
        (root / f"{animal}Seg").mkdir(parents=True, exist_ok=True)
        scipy.io.savemat(str(root / f"{animal}Seg" / f"seg{ann_id}.mat"), {"segments": segs})
        landmarks[ann_id], masks[ann_id] = lm, seq_masks
    (root / "ranges" / animal).mkdir(parents=True, exist_ok=True)
    table = np.asarray(ranges, dtype=np.float64)  # MATLAB stores doubles
    scipy.io.savemat(str(root / "ranges" / animal / "ranges.mat"), {"ranges": table})
    return TigDogFixture(root, frames, table.astype(int), landmarks, masks)


def image_sheet_line(name: str, fmt: str, source: Path | str, images: Path | str = "", split_file: Path | str = "",
                     split: str = "test") -> str:
    """One tab-separated row of an image-set sheet."""
    return "\t".join([name, fmt, str(source), str(images), str(split_file), split])


IMAGE_SHEET_HEADER = "\t".join(["name", "format", "source", "images", "split_file", "split"])
