"""The sequence sheet: one row per video (name, format, source, annotations, split).

A tab-separated file (``config/sequences.tsv``) that tells the workflow which videos exist,
how to read them and what each is for: ``generic`` (base-network training set), ``train``
(annotated frames fine-tune the parent network) or ``test`` (online per-video training and
evaluation).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

FORMATS = ("synthetic", "smal4v", "badja", "animalkey")
SPLITS = ("generic", "train", "test")
"""A row's split is one of these, or several joined by ``+`` (``train+test``: a video whose
training frames fine-tune the parent and which is then trained online and evaluated)."""
REQUIRED_COLUMNS = ("name", "format", "source", "annotations", "split")
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class SheetError(ValueError):
    """A malformed sequence sheet; the message names the file, row and column."""


def name_is_valid(name: str) -> bool:
    """Whether ``name`` can name a sequence or image set (letters, digits, ``_ . -``)."""
    return bool(_NAME_PATTERN.match(name))


@dataclass(frozen=True)
class SequenceRow:
    """One video: where its frames and annotations are and which split it belongs to."""

    name: str
    format: str
    source: str
    annotations: str
    split: str
    ground_truth: str = ""


PATH_COLUMNS = ("source", "annotations", "ground_truth")


def load_sequence_sheet(path: str | Path, results: str = "results") -> dict[str, SequenceRow]:
    """Read and validate a sequence sheet; return rows keyed by sequence name (sheet order).

    ``{results}`` in a path column is replaced by ``results`` (the workflow's output folder),
    so sheets of generated demo data follow the configured output location.
    """
    path = Path(path)
    if not path.is_file():
        raise SheetError(f"sequence sheet {path}: file not found")
    try:
        _check_field_counts(path, path.read_text(encoding="utf-8"))
        table = pd.read_csv(path, sep="\t", dtype=str, comment="#").fillna("")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SheetError(f"sequence sheet {path}: not a tab-separated table with a header line: {exc}") from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise SheetError(f"sequence sheet {path}: missing column(s) {missing}; has {list(table.columns)}")
    rows: dict[str, SequenceRow] = {}
    for i, record in enumerate(table.to_dict("records"), start=2):
        values = {k: str(record.get(k, "")).strip() for k in (*REQUIRED_COLUMNS, "ground_truth")}
        row = SequenceRow(**{k: v.replace("{results}", results) if k in PATH_COLUMNS else v for k, v in values.items()})
        where = f"sequence sheet {path}, line {i}"
        if not name_is_valid(row.name):
            raise SheetError(f"{where}: bad sequence name {row.name!r} (letters, digits, _ . - only)")
        if row.name in rows:
            raise SheetError(f"{where}: duplicate sequence name {row.name!r}")
        if row.format not in FORMATS:
            raise SheetError(f"{where}: format {row.format!r} is not one of {FORMATS}")
        if not row.split or any(part not in SPLITS for part in row.split.split("+")):
            raise SheetError(f"{where}: split {row.split!r} is not one of {SPLITS} (or several joined by '+')")
        if not row.source:
            raise SheetError(f"{where}: empty source for {row.name!r}")
        rows[row.name] = row
    if not rows:
        raise SheetError(f"sequence sheet {path}: no sequences")
    return rows


def _check_field_counts(path: Path, text: str) -> None:
    """Every row has at most as many tab-separated fields as the header (pandas would silently
    shift such a row's columns or drop its extra fields)."""
    lines = [(i, line.split("#", 1)[0].rstrip("\r\n")) for i, line in enumerate(text.splitlines(), start=1)]
    lines = [(i, line) for i, line in lines if line.strip()]
    if not lines:
        return
    width = len(lines[0][1].split("\t"))
    for i, line in lines[1:]:
        fields = len(line.rstrip("\t").split("\t"))
        if fields > width:
            raise SheetError(f"sequence sheet {path}, line {i}: {fields} tab-separated fields, but the header has {width}")


def sequences_in_split(rows: dict[str, SequenceRow], split: str) -> list[str]:
    """Names of the sequences of one split, in sheet order."""
    return [name for name, row in rows.items() if split in row.split.split("+")]


def synthetic_sequences(rows: dict[str, SequenceRow], names: list[str]) -> list[str]:
    """Those of ``names`` whose frames the workflow rendered itself (format ``synthetic``): the
    only rows whose ground truth may train a method (the OSVOS parent)."""
    return [name for name in names if rows[name].format == "synthetic"]
