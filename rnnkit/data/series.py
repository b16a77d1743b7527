"""Real-valued time series: one numeric column of a CSV file, missing values filled in.

Gaps (empty cells, ``NA``, ``nan``) are filled by linear interpolation in time order and
counted, so the caller reports how many; more than ``MAX_MISSING`` of the series missing is
refused, since an interpolated series would then be mostly made up.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.data.text import input_file
from rnnkit.errors import RnnkitError

MAX_MISSING = 0.2
_NA = {"", "na", "nan", "null", "none", "n/a", "."}


@dataclass
class Series:
    """One series: ``values`` (N,) float64 without gaps, optional ``dates`` (N,) as strings,
    the seasonal ``period`` used by seasonal-naive (None if the series has none),
    ``interpolated``, how many values were missing and filled in, and for a panel's series its
    ``frequency`` (M4's names: yearly ... hourly) and ``source``."""

    name: str
    values: np.ndarray
    dates: list[str] | None = None
    period: int | None = None
    interpolated: int = 0
    frequency: str | None = None
    source: str | None = None


def fill_missing(values: np.ndarray, name: str) -> tuple[np.ndarray, int]:
    """Linearly interpolate NaNs (edges take the nearest value); return (values, count)."""
    values = np.asarray(values, dtype=np.float64)
    missing = np.isnan(values)
    n = int(missing.sum())
    if n == 0:
        return values, 0
    if n > MAX_MISSING * len(values):
        raise RnnkitError(
            f"{name}: {n} of {len(values)} values are missing (over {MAX_MISSING:.0%}); "
            "clean the series first"
        )
    idx = np.arange(len(values))
    filled = values.copy()
    filled[missing] = np.interp(idx[missing], idx[~missing], values[~missing])
    return filled, n


def read_series(
    path: str | Path, column: str, date_col: str | None = None, period: int | None = None
) -> Series:
    """The numeric ``column`` of a CSV/TSV file, sorted by ``date_col`` when given.

    Raises RnnkitError for a missing file or column, a value that is not a number (with its
    line number) or too many missing values.
    """
    import pandas as pd

    path = Path(path)
    if path.exists() and not path.is_file():  # a device (/dev/zero) would be read for ever
        input_file(path, "series file")
    sep = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    try:
        # index_col=False: a row with more cells than the header must not turn the first
        # column into the index; pandas then warns that it drops cells, which is refused
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, index_col=False)
        if any(issubclass(w.category, pd.errors.ParserWarning) for w in caught):
            raise RnnkitError(f"{path}: some rows have more cells than the header")
    except FileNotFoundError:
        raise RnnkitError(f"no such file: {path}") from None
    except (IsADirectoryError, PermissionError) as exc:
        raise RnnkitError(f"cannot read {path}: {exc.strerror}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise RnnkitError(f"{path}: cannot read as a table: {str(exc).splitlines()[0]}") from None
    for col in (column, date_col):
        if col is not None and col not in frame.columns:
            raise RnnkitError(f"no column {col!r} in {path}; it has {list(frame.columns)}")
    raw = frame[column].str.strip()
    values = np.full(len(raw), np.nan)
    for i, cell in enumerate(raw):
        if cell.lower() in _NA:
            continue
        try:
            values[i] = float(cell)
        except ValueError:
            raise RnnkitError(
                f"{path}:{i + 2}: {column!r} holds {cell!r}, which is not a number"
            ) from None
        if not np.isfinite(values[i]):
            raise RnnkitError(f"{path}:{i + 2}: {column!r} holds {cell!r}, not a finite number")
    dates = None
    if date_col is not None:
        parsed = pd.to_datetime(frame[date_col], errors="coerce")
        if parsed.isna().any():
            bad = int(np.flatnonzero(parsed.isna().to_numpy())[0])
            raise RnnkitError(f"{path}:{bad + 2}: {frame[date_col].iloc[bad]!r} is not a date")
        order = np.argsort(parsed.to_numpy(), kind="stable")
        values = values[order]
        dates = [str(d.date()) if d == d.normalize() else str(d) for d in parsed.iloc[order]]
    if len(values) == 0:
        raise RnnkitError(f"{path} has no rows")
    filled, n = fill_missing(values, f"{path}:{column}")
    return Series(column, filled, dates, period, n)
