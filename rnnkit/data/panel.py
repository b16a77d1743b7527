"""Many series at once, as M4 users have them: a table with one column per series (wide; a
shorter series leaves its leading or trailing cells empty), a long table with an id column, or a
folder of such tables.

    wide:  date,airline,wine            long:  id,date,value
           1990-01,112,15136                   airline,1990-01,112
           1990-02,118,16733                   airline,1990-02,118 ...

A long table is recognised by its id column (``id_col``, or one named id, unique_id, series or
series_id); its values are ``column`` or the one column left beside the id and the date.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rnnkit.data.series import _NA, Series, fill_missing
from rnnkit.errors import RnnkitError

if TYPE_CHECKING:  # pandas costs half a second to import: loaded where a table is read
    import pandas as pd

ID_NAMES = ("id", "unique_id", "series", "series_id")
TABLES = (".csv", ".tsv", ".tab")


def _read_table(path: Path) -> pd.DataFrame:
    import pandas as pd

    sep = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, index_col=False)
    except FileNotFoundError:
        raise RnnkitError(f"no such file: {path}") from None
    except PermissionError as exc:
        raise RnnkitError(f"cannot read {path}: {exc.strerror}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise RnnkitError(f"{path}: cannot read as a table: {str(exc).splitlines()[0]}") from None
    if any(issubclass(w.category, pd.errors.ParserWarning) for w in caught):
        raise RnnkitError(f"{path}: some rows have more cells than the header")
    if frame.empty:
        raise RnnkitError(f"{path} has no rows")
    return frame


def _numbers(cells: pd.Series, path: Path, column: str) -> np.ndarray:
    """(N,) floats, NaN for an empty or NA cell; a line number for anything else."""
    values = np.full(len(cells), np.nan)
    for i, (row, cell) in enumerate(cells.str.strip().items()):
        if cell.lower() in _NA:
            continue
        try:
            values[i] = float(cell)
        except ValueError:
            values[i] = np.inf
        if not np.isfinite(values[i]):
            raise RnnkitError(f"{path}:{int(row) + 2}: {column!r} holds {cell!r}, not a number")
    return values


def series_from_values(
    name: str, values: np.ndarray, dates: list[str] | None, where: str
) -> Series:
    """Leading and trailing gaps cut (a ragged wide table), inner ones interpolated."""
    known = np.flatnonzero(~np.isnan(values))
    if len(known) == 0:
        raise RnnkitError(f"{where}: series {name!r} has no values")
    cut = slice(known[0], known[-1] + 1)
    filled, n = fill_missing(values[cut], f"{where}:{name}")
    return Series(name, filled, dates[cut] if dates else None, interpolated=n)


def _dates(frame: pd.DataFrame, date_col: str, path: Path) -> tuple[np.ndarray, list[str]]:
    """(order that sorts the rows by date, the dates as text in that order)."""
    import pandas as pd

    parsed = pd.to_datetime(frame[date_col], errors="coerce")
    if parsed.isna().any():
        bad = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise RnnkitError(f"{path}:{bad + 2}: {frame[date_col].iloc[bad]!r} is not a date")
    order = np.argsort(parsed.to_numpy(), kind="stable")
    text = [str(d.date()) if d == d.normalize() else str(d) for d in parsed.iloc[order]]
    return order, text


def read_table_series(
    path: str | Path,
    column: str | None = None,
    date_col: str | None = None,
    id_col: str | None = None,
) -> list[Series]:
    """Every series of one wide or long table (see the module's note)."""
    path = Path(path)
    frame = _read_table(path)
    for col in (column, date_col, id_col):
        if col is not None and col not in frame.columns:
            raise RnnkitError(f"no column {col!r} in {path}; it has {list(frame.columns)}")
    id_col = id_col or next((c for c in frame.columns if c.lower() in ID_NAMES), None)
    if id_col is None:  # wide
        names = [column] if column else [c for c in frame.columns if c != date_col]
        order, dates = _dates(frame, date_col, path) if date_col else (np.arange(len(frame)), None)
        frame = frame.iloc[order].reset_index(drop=True)
        return [series_from_values(c, _numbers(frame[c], path, c), dates, str(path)) for c in names]
    rest = [c for c in frame.columns if c not in (id_col, date_col)]
    if column is None:
        if len(rest) != 1:
            raise RnnkitError(
                f"{path}: a long table needs its value column named (column NAME); it has {rest}"
            )
        column = rest[0]
    values = _numbers(frame[column], path, column)
    out = []
    for name, rows in frame.groupby(id_col, sort=False).indices.items():
        part, dates = frame.iloc[rows], None
        vals = values[rows]
        if date_col:
            order, dates = _dates(part, date_col, path)
            vals = vals[order]
        out.append(series_from_values(str(name), vals, dates, str(path)))
    return out


def read_panel(
    path: str | Path,
    column: str | None = None,
    date_col: str | None = None,
    id_col: str | None = None,
) -> list[Series]:
    """The series of a table, or of every table in a folder (named FILE:COLUMN there when the
    folder's tables reuse a name)."""
    path = Path(path)
    if not path.is_dir():
        return read_table_series(path, column, date_col, id_col)
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in TABLES)
    if not files:
        raise RnnkitError(f"{path} holds no .csv or .tsv files")
    out: list[Series] = []
    for f in files:
        found = read_table_series(f, column, date_col, id_col)
        for s in found:
            s.name = f.stem if len(found) == 1 else f"{f.stem}:{s.name}"
        out += found
    names = [s.name for s in out]
    if len(set(names)) < len(names):
        raise RnnkitError(f"{path}: two series share a name")
    return out
