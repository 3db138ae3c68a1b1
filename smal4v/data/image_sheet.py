"""The image-set sheet: one row per split of an image dataset (the image-dataset mode).

A tab-separated file (``images.sheet`` in the config) with the columns

========== ====================================================================================
name       image-set name (letters, digits, ``_ . -``), e.g. ``stanfordextra_test``
format     ``stanfordextra``, ``animal_pose``, ``animalkey_frames``, ``animalkey_test_set`` or ``tigdog``
source     stanfordextra / animal_pose: the json; animalkey_frames: the ``_frames`` folder;
           animalkey_test_set: the ``cows_test_set`` folder; tigdog: the TigDog root (holding
           ``ranges/``, ``landmarks/``, ``<animal>Seg/``)
images     stanfordextra / animal_pose: the ``Images/`` folder; tigdog: the frame folder
           ``<root>/<animal>`` (its name is the animal); animalkey_*: empty
split_file stanfordextra / animal_pose: the split ``.npy``; animalkey_frames / tigdog: empty for
           the default split, or a text file of test sequence numbers / annotation ids
split      ``train`` (the image-mode training stages fine-tune on it) or ``test`` (evaluated)
========== ====================================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from smal4v.data.image_dataset import ImageRecord
from smal4v.data.sheet import SheetError, name_is_valid

IMAGE_FORMATS = ("stanfordextra", "animal_pose", "animalkey_frames", "animalkey_test_set", "tigdog")
IMAGE_SPLITS = ("train", "test")
COLUMNS = ("name", "format", "source", "images", "split_file", "split")
KEYPOINT_SETS = {"stanfordextra": "stanford_extra", "animal_pose": "stanford_extra",
                 "animalkey_frames": "animalkey30", "animalkey_test_set": "animalkey30", "tigdog": "tigdog19"}
"""The keypoint set each format's keypoints are mapped onto (resources/keypoints/)."""


@dataclass(frozen=True)
class ImageSetRow:
    """One split of an image dataset."""

    name: str
    format: str
    source: str
    images: str
    split_file: str
    split: str

    @property
    def keypoint_set(self) -> str:
        """The keypoint set of this row's format."""
        return KEYPOINT_SETS[self.format]

    def input_files(self) -> list[str]:
        """Files the import reads that the workflow can track (the json / split file)."""
        files = [self.source] if self.format in ("stanfordextra", "animal_pose") else []
        return files + ([self.split_file] if self.split_file else [])


def load_image_sheet(path: str | Path) -> dict[str, ImageSetRow]:
    """Read and validate an image-set sheet; rows keyed by name (sheet order). Errors name the
    file, line and column."""
    path = Path(path)
    if not path.is_file():
        raise SheetError(f"image-set sheet {path}: file not found")
    table = pd.read_csv(path, sep="\t", dtype=str, comment="#").fillna("")
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise SheetError(f"image-set sheet {path}: missing column(s) {missing}; has {list(table.columns)}")
    rows: dict[str, ImageSetRow] = {}
    for line, record in enumerate(table.to_dict("records"), start=2):
        row = ImageSetRow(**{c: str(record[c]).strip() for c in COLUMNS})
        where = f"image-set sheet {path}, line {line}"
        if not name_is_valid(row.name) or row.name in rows:
            raise SheetError(f"{where}: bad or duplicate name {row.name!r} (letters, digits, _ . - only)")
        if row.format not in IMAGE_FORMATS:
            raise SheetError(f"{where}: format {row.format!r} is not one of {IMAGE_FORMATS}")
        if row.split not in IMAGE_SPLITS:
            raise SheetError(f"{where}: split {row.split!r} is not one of {IMAGE_SPLITS}")
        if not row.source or (not row.format.startswith("animalkey") and not row.images):
            raise SheetError(f"{where}: format {row.format} needs 'source' and 'images'")
        if row.format in ("stanfordextra", "animal_pose") and not row.split_file:
            raise SheetError(f"{where}: format {row.format} needs its split .npy in 'split_file'")
        rows[row.name] = row
    if not rows:
        raise SheetError(f"image-set sheet {path}: no rows")
    return rows


def read_records(row: ImageSetRow) -> list[ImageRecord]:
    """The annotated images of one sheet row, through its format's reader."""
    if row.format in ("stanfordextra", "animal_pose"):
        from smal4v.data.stanfordextra import read_stanfordextra

        return read_stanfordextra(row.source, row.images, row.split_file)
    if row.format == "animalkey_frames":
        from smal4v.data.animalkey import read_animalkey_frames

        return read_animalkey_frames(row.source, row.split, row.split_file or None)
    if row.format == "animalkey_test_set":
        from smal4v.data.animalkey import read_animalkey_test_set

        return read_animalkey_test_set(row.source)
    from smal4v.data.tigdog import read_tigdog

    return read_tigdog(row.source, row.images, row.split, row.split_file or None)
