"""Time series from statsmodels (ships its data in the wheel) and daily stocks from
``bokeh-sampledata`` (wheel, fetched once)."""

from __future__ import annotations

import gzip
import io

import numpy as np

from rnnkit.data.named import NamedDataset, register
from rnnkit.data.named.fetch import fetch_pypi, read_member
from rnnkit.data.series import Series, fill_missing

STOCKS_PACKAGE = ("bokeh-sampledata", "2026.1")


def load_sunspots() -> Series:
    from statsmodels.datasets import sunspots

    frame = sunspots.load_pandas().data
    dates = [str(int(y)) for y in frame["YEAR"]]
    return Series("sunspots", frame["SUNACTIVITY"].to_numpy(np.float64), dates, period=11)


def load_co2() -> Series:
    from statsmodels.datasets import co2

    frame = co2.load_pandas().data
    values, n = fill_missing(frame["co2"].to_numpy(np.float64), "co2")
    dates = [str(d.date()) for d in frame.index]
    return Series("co2", values, dates, period=52, interpolated=n)


def load_elnino() -> Series:
    from statsmodels.datasets import elnino

    frame = elnino.load_pandas().data  # one row per year, one column per month
    months = frame.columns[1:]
    values = frame[months].to_numpy(np.float64).reshape(-1)  # (years * 12,)
    dates = [f"{int(y)}-{m + 1:02d}" for y in frame["YEAR"] for m in range(12)]
    return Series("elnino", values, dates, period=12)


def _stock_loader(ticker: str):
    def load() -> Series:
        import pandas as pd

        archive = fetch_pypi(*STOCKS_PACKAGE, sdist=False)
        raw = gzip.decompress(read_member(archive, "_data/stocks.csv.gz"))
        frame = pd.read_csv(io.BytesIO(raw))
        frame = frame[frame["Ticker"] == ticker].sort_values("Date")
        values, n = fill_missing(frame["Close"].to_numpy(np.float64), ticker)
        return Series(f"{ticker} close", values, list(frame["Date"]), period=5, interpolated=n)

    return load


_SM = "statsmodels.datasets (ships in the statsmodels wheel)"
register(NamedDataset("sunspots", "forecast", "309 yearly sunspot numbers, 1700-2008",
                      _SM, "public domain", load_sunspots))  # fmt: skip
register(NamedDataset("co2", "forecast", "2,284 weekly Mauna Loa CO2 readings (59 gaps filled)",
                      _SM, "public domain", load_co2))  # fmt: skip
register(NamedDataset("elnino", "forecast", "732 monthly Pacific sea-surface temperatures",
                      _SM, "public domain", load_elnino))  # fmt: skip
for _t in ("AAPL", "IBM", "MSFT"):
    register(
        NamedDataset(
            f"stock-{_t.lower()}",
            "forecast",
            f"{_t} daily closing price, 2000-2013",
            f"PyPI wheel bokeh-sampledata=={STOCKS_PACKAGE[1]}, _data/stocks.csv.gz",
            "public domain (per DATASETS.md)",
            _stock_loader(_t),
        )
    )
