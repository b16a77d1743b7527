"""The forecasting panel: 18 real series across M4's frequencies, one named dataset per
frequency (``panel-monthly``, ``panel-quarterly``, ...), all from data that ships inside installed
wheels (statsmodels, pmdarima), read offline. Each ``Series`` carries its frequency,
its season length as M4 scores it (monthly 12, quarterly 4, hourly 24, else 1: M4 took 1 for
weekly and daily too) and its source; gaps in a series are interpolated. Sub-daily series take
the hourly horizon. Derived series say how they were made (weekly and daily totals or closes).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rnnkit.data.named import NamedDataset, register
from rnnkit.data.panel import series_from_values
from rnnkit.data.series import Series, fill_missing

_SM = "statsmodels.datasets ({}), in the statsmodels wheel"
_PM = "pmdarima.datasets.{}, in the pmdarima wheel"


def _pm(name: str) -> np.ndarray:
    import pmdarima.datasets as d

    return np.asarray(getattr(d, f"load_{name}")(), np.float64)


def _sm(name: str):
    import importlib

    return importlib.import_module(f"statsmodels.datasets.{name}").load_pandas().data


def _msft_close() -> tuple[np.ndarray, np.ndarray]:
    import pmdarima.datasets as d

    frame = d.load_msft()
    return frame["Date"].to_numpy("datetime64[D]"), frame["Close"].to_numpy(np.float64)


def _msft_weekly() -> np.ndarray:
    """The last close of each calendar week (weeks from Monday; numpy's epoch was a Thursday)."""
    days, close = _msft_close()
    week = (days.astype(np.int64) + 3) // 7
    last = np.flatnonzero(np.diff(week)) if len(week) else []
    return close[np.append(last, len(close) - 1)]


def _taylor(hours: int) -> np.ndarray:
    """Half-hourly demand summed over blocks of ``hours`` hours."""
    y = _pm("taylor")
    return y.reshape(-1, 2 * hours).sum(1)


def _co2() -> np.ndarray:
    return fill_missing(_sm("co2")["co2"].to_numpy(np.float64), "co2")[0]


def _elnino() -> np.ndarray:
    frame = _sm("elnino")
    return frame[frame.columns[1:]].to_numpy(np.float64).reshape(-1)


# name: (frequency, M4 season length, what it is, where it comes from, loader)
PANEL: dict[str, tuple[str, int, str, str, Callable[[], np.ndarray]]] = {
    "airpassengers": ("monthly", 12, "airline passengers 1949-60",
                      _PM.format("load_airpassengers"), lambda: _pm("airpassengers")),
    "wineind": ("monthly", 12, "Australian wine sales 1980-94",
                _PM.format("load_wineind"), lambda: _pm("wineind")),
    "elnino": ("monthly", 12, "Pacific sea-surface temperature 1950-2010",
               _SM.format("elnino"), _elnino),
    "elec-equip": ("monthly", 12, "euro-area electrical equipment orders 1996-2012",
                   _SM.format("elec_equip"),
                   lambda: _sm("elec_equip").iloc[:, 0].to_numpy(np.float64)),
    "sunspots-monthly": ("monthly", 12, "monthly sunspot numbers 1749-1983",
                         _PM.format("load_sunspots"), lambda: _pm("sunspots")),
    "ausbeer": ("quarterly", 4, "Australian beer production 1956-2008",
                _PM.format("load_ausbeer"), lambda: _pm("ausbeer")),
    "austres": ("quarterly", 4, "Australian residents 1971-93",
                _PM.format("load_austres"), lambda: _pm("austres")),
    "woolyrnq": ("quarterly", 4, "Australian woollen yarn production 1965-94",
                 _PM.format("load_woolyrnq"), lambda: _pm("woolyrnq")),
    "us-realgdp": ("quarterly", 4, "US real GDP 1959-2009", _SM.format("macrodata, realgdp"),
                   lambda: _sm("macrodata")["realgdp"].to_numpy(np.float64)),
    "lynx": ("yearly", 1, "Canadian lynx trappings 1821-1934",
             _PM.format("load_lynx"), lambda: _pm("lynx")),
    "nile": ("yearly", 1, "Nile flow at Aswan 1871-1970", _SM.format("nile"),
             lambda: _sm("nile")["volume"].to_numpy(np.float64)),
    "sunspots-yearly": ("yearly", 1, "yearly sunspot numbers 1700-2008", _SM.format("sunspots"),
                        lambda: _sm("sunspots")["SUNACTIVITY"].to_numpy(np.float64)),
    "co2-weekly": ("weekly", 1, "Mauna Loa CO2 1958-2001, 59 gaps interpolated",
                   _SM.format("co2"), _co2),
    "msft-weekly": ("weekly", 1, "MSFT: the last close of each week 1986-2017",
                    _PM.format("load_msft"), _msft_weekly),
    "msft-daily": ("daily", 1, "MSFT daily close 1986-2017",
                   _PM.format("load_msft"), lambda: _msft_close()[1]),
    "taylor-daily": ("daily", 1, "English electricity demand: daily totals, 12 weeks of 2000",
                     _PM.format("load_taylor"), lambda: _taylor(24)),
    "taylor-hourly": ("hourly", 24, "English electricity demand: hourly totals, 12 weeks of 2000",
                      _PM.format("load_taylor"), lambda: _taylor(1)),
    "taylor-halfhourly": ("sub-daily", 48, "the same demand, half-hourly (m = 48: a day)",
                          _PM.format("load_taylor"), lambda: _pm("taylor")),
}  # fmt: skip


def load_panel(names: list[str] | None = None) -> list[Series]:
    """The panel's series (all, or those named), each with frequency, season and source."""
    out = []
    for name in names or list(PANEL):
        frequency, m, what, where, load = PANEL[name]
        s = series_from_values(name, np.asarray(load(), np.float64), None, "panel")
        s.period, s.frequency, s.source = m, frequency, f"{what}; {where}"
        out.append(s)  # fmt: skip
    return out


FREQUENCIES = ("monthly", "quarterly", "yearly", "weekly", "daily", "hourly", "sub-daily")


def _group_loader(frequency: str) -> Callable[[], list[Series]]:
    return lambda: load_panel([n for n, e in PANEL.items() if e[0] == frequency])


for _f in FREQUENCIES:
    _names = [n for n, e in PANEL.items() if e[0] == _f]
    register(
        NamedDataset(
            f"panel-{_f}",
            "forecast",
            f"{len(_names)} {_f} series: {', '.join(_names)}",
            "statsmodels and pmdarima wheels (each series' source: rnnkit.data.named.panel)",
            "public data bundled with the libraries",
            _group_loader(_f),
        )
    )
