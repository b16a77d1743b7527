"""Read (text, label) pairs from CSV, TSV or JSON-lines files with named columns.

The format follows the file's suffix (``.csv``, ``.tsv``/``.tab``, ``.jsonl``/``.ndjson``).
Rows whose text or label is empty are skipped and counted, so the caller can say how many.
Every cell that is read as text goes through ``cell_text``: a JSON number, list or object where
text is expected is refused naming the file and line (it is not turned into text silently).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from rnnkit.data.text import read_text
from rnnkit.errors import RnnkitError

TEXT_COLUMNS = ("text", "sentence", "review", "content", "document")
MAX_CELL_CHARS = 1 << 24  # one cell of a table: a long document is fine, a runaway quote is not
LABEL_COLUMNS = ("label", "labels", "sentiment", "class", "category", "target", "y")


@dataclass
class LabelledTexts:
    """Parallel lists of texts and their labels, and how many rows were skipped as empty."""

    texts: list[str]
    labels: list[str]
    skipped: int = 0


@dataclass
class LabelledSequences:
    """Real-valued sequences (each (T_i, F) float32) and their labels."""

    sequences: list[np.ndarray]
    labels: list[str]
    skipped: int = 0


def _pick(columns: list[str], asked: str | None, guesses: tuple[str, ...], what: str) -> str:
    if asked is not None:
        if asked not in columns:
            raise RnnkitError(f"no {what} column {asked!r}; the file has {columns}")
        return asked
    lower = {c.lower(): c for c in columns}
    for g in guesses:
        if g in lower:
            return lower[g]
    raise RnnkitError(f"cannot tell which column is the {what}; pass --{what}-col (has {columns})")


class Table(NamedTuple):
    """A table's column names, its rows (column -> cell) and each row's line in the file."""

    columns: list[str]
    rows: list[dict]
    lines: list[int]


def cell_text(value: Any, where: str, column: str, numbers: bool = False) -> str:
    """The cell ``value`` of ``column`` as text ("" when it is missing or null). A CSV cell is
    text already; in JSON lines a number is taken only where ``numbers`` says a number may
    stand for text (a label, a group), and a list or object never: either is a one-line
    RnnkitError naming ``where`` (file:line) instead of text the user never wrote."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if numbers and isinstance(value, (int, float)):
        return str(value)
    kind = "a number" if isinstance(value, (int, float)) else f"a JSON {type(value).__name__}"
    raise RnnkitError(f"{where}: the {column!r} value is {kind}, not text (write it as a string)")


def _rows(path: Path) -> tuple[list[str], list[dict]]:
    """``read_table`` without the line numbers."""
    table = read_table(path)
    return table.columns, table.rows


def read_table(path: Path) -> Table:
    """The rows of a .csv/.tsv/.jsonl file, each with its line, as a ``Table``."""
    suffix = path.suffix.lower()
    text = read_text(path)
    lines: list[int] = []
    if suffix in (".jsonl", ".ndjson", ".json"):
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RnnkitError(f"{path}:{n}: not a JSON object ({exc.msg})") from None
            if not isinstance(row, dict):
                raise RnnkitError(f"{path}:{n}: each line must be a JSON object")
            rows.append(row)
            lines.append(n)
        columns = list(dict.fromkeys(k for r in rows for k in r))
        return Table(columns, rows, lines)
    if suffix in (".tsv", ".tab"):
        delimiter = "\t"
    elif suffix == ".csv":
        delimiter = ","
    else:
        raise RnnkitError(f"{path}: use a .csv, .tsv or .jsonl file (got {suffix or 'no suffix'})")
    csv.field_size_limit(MAX_CELL_CHARS)
    reader = csv.DictReader(text.splitlines(), delimiter=delimiter)
    rows = []
    try:
        columns = list(reader.fieldnames or [])
        for row in reader:
            if None in row:  # more cells than the header names: the columns would shift
                raise RnnkitError(
                    f"{path}:{reader.line_num}: the row has more cells than the header's "
                    f"{len(columns)} (a {'comma' if delimiter == ',' else 'tab'} in an "
                    "unquoted cell?)"
                )
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise RnnkitError(f"{path}:{reader.line_num}: not a readable table row ({exc})") from None
    return Table(columns, rows, lines)


def read_labelled_texts(
    path: str | Path, text_col: str | None = None, label_col: str | None = None
) -> LabelledTexts:
    """Texts and labels from ``path``; columns guessed from common names when not given.

    Raises RnnkitError for a missing file or column, or when no usable row is left.
    """
    path = Path(path)
    columns, rows, lines = read_table(path)
    if not rows:
        raise RnnkitError(f"{path} has no rows")
    tcol = _pick(columns, text_col, TEXT_COLUMNS, "text")
    lcol = _pick(columns, label_col, LABEL_COLUMNS, "label")
    texts, labels, skipped = [], [], 0
    for row, n in zip(rows, lines, strict=True):
        t = cell_text(row.get(tcol), f"{path}:{n}", tcol).strip()
        y = cell_text(row.get(lcol), f"{path}:{n}", lcol, numbers=True).strip()
        if not t or not y:
            skipped += 1
            continue
        texts.append(t)
        labels.append(y)
    if not texts:
        raise RnnkitError(f"{path}: every row has an empty {tcol!r} or {lcol!r}")
    return LabelledTexts(texts, labels, skipped)


def read_lines(path: str | Path, column: str | None = None) -> list[str]:
    """Inputs to predict on: the text column of a .csv/.tsv/.jsonl file (``column`` or a common
    name), or else one input per non-empty line of a UTF-8 text file."""
    path = Path(path)
    if path.suffix.lower() in (".csv", ".tsv", ".tab", ".jsonl", ".ndjson", ".json"):
        columns, rows, numbers = read_table(path)
        col = _pick(columns, column, TEXT_COLUMNS, "text")
        lines = [cell_text(r.get(col), f"{path}:{n}", col).strip()
                 for r, n in zip(rows, numbers, strict=True)]  # fmt: skip
    else:
        lines = [line.strip() for line in read_text(path).splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise RnnkitError(f"{path} holds no input")
    return lines
