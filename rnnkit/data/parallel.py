"""Read (source, target) text pairs: a .csv/.tsv/.jsonl table with a source and a target
column, or two aligned text files (line ``i`` of one is the pair of line ``i`` of the other).

A row whose source or target is empty or missing is skipped and counted, so the caller can say
how many; a file with no usable pair is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rnnkit.data.tables import _pick, cell_text, read_table
from rnnkit.data.text import read_text
from rnnkit.errors import RnnkitError

SOURCE_COLUMNS = ("source", "src", "input", "document", "text", "question", "prompt")
TARGET_COLUMNS = ("target", "tgt", "output", "summary", "reply", "response", "translation")
TABLE_SUFFIXES = (".csv", ".tsv", ".tab", ".jsonl", ".ndjson", ".json")


@dataclass
class TextPairs:
    """Parallel lists of source and target texts, and how many rows were skipped as empty."""

    sources: list[str]
    targets: list[str]
    groups: list[str]  # rows that must stay in one split together (each row alone by default)
    skipped: int = 0


def read_pairs(
    path: str | Path,
    src_col: str | None = None,
    tgt_col: str | None = None,
    tgt_file: str | Path | None = None,
    group_col: str | None = None,
) -> TextPairs:
    """Pairs from a table (columns guessed from common names when not given) or, with
    ``tgt_file``, from two aligned text files; ``group_col`` names a table's group column."""
    path = Path(path)
    if tgt_file is not None:
        src_lines = read_text(path).splitlines()
        tgt_lines = read_text(tgt_file).splitlines()
        if Path(path).resolve() == Path(tgt_file).resolve():
            raise RnnkitError(f"{path} is given as both the source and the target side")
        if len(src_lines) != len(tgt_lines):
            raise RnnkitError(
                f"{path} has {len(src_lines)} lines but {tgt_file} has {len(tgt_lines)}; "
                "aligned files need one line per pair"
            )
        if group_col is not None:
            raise RnnkitError("a group column needs a table: aligned text files have no columns")
        rows = [(s, t, str(i)) for i, (s, t) in enumerate(zip(src_lines, tgt_lines, strict=True))]
        what = f"{path} + {tgt_file}"
    else:
        if path.suffix.lower() not in TABLE_SUFFIXES:
            raise RnnkitError(
                f"{path}: give a .csv, .tsv or .jsonl file of pairs, or a text file with "
                "--tgt-file for its aligned target side"
            )
        columns, table, lines = read_table(path)
        if not table:
            raise RnnkitError(f"{path} has no rows")
        scol = _pick(columns, src_col, SOURCE_COLUMNS, "src")
        tcol = _pick(columns, tgt_col, TARGET_COLUMNS, "tgt")
        if scol == tcol:
            raise RnnkitError(
                f"{path}: column {scol!r} is both the source and the target; give two columns "
                "(--src-col and --tgt-col)"
            )
        if group_col is not None and group_col not in columns:
            raise RnnkitError(f"no group column {group_col!r}; the file has {columns}")
        rows = [(cell_text(r.get(scol), f"{path}:{n}", scol),
                 cell_text(r.get(tcol), f"{path}:{n}", tcol),
                 cell_text(r.get(group_col), f"{path}:{n}", group_col, numbers=True)
                 if group_col else str(i))
                for i, (r, n) in enumerate(zip(table, lines, strict=True))]  # fmt: skip
        what = str(path)
    pairs = TextPairs([], [], [])
    for s, t, g in rows:
        s = "" if s is None else " ".join(str(s).split())
        t = "" if t is None else " ".join(str(t).split())
        if s and t:
            pairs.sources.append(s)
            pairs.targets.append(t)
            pairs.groups.append(g)
        else:
            pairs.skipped += 1
    if not pairs.sources:
        raise RnnkitError(f"{what}: no row has both a source and a target")
    return pairs
