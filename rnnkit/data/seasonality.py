"""The M4 competition's seasonal adjustment (Makridakis et al. 2020): a series is seasonal when
its autocorrelation at lag m lies outside the 90% band (``is_seasonal``); a seasonal series is
divided by the seasonal indices of classical multiplicative decomposition (``seasonal_indices``),
and forecasts of the adjusted series are multiplied back by the last season's indices
(``Deseasonalised.reseasonalise``). Naive2, Theta and Comb all forecast through it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

T_CRIT = 1.645  # one-sided 95%: the two-sided 90% band of the M4 benchmark code


def acf(y: np.ndarray, nlags: int) -> np.ndarray:
    """(nlags,) sample autocorrelations at lags 1..nlags (R's acf: the lag-0 denominator)."""
    z = np.asarray(y, dtype=np.float64) - np.mean(y)
    denom = float(z @ z)
    if denom == 0:
        return np.zeros(nlags)
    return np.array([float(z[k:] @ z[: len(z) - k]) / denom for k in range(1, nlags + 1)])


def is_seasonal(y: np.ndarray, m: int | None) -> bool:
    """M4's test: |r_m| > 1.645 sqrt((1 + 2 sum_{k<m} r_k^2) / n), on at least 3 seasons.

    The M4 R code reads r_m from ``acf``'s default lags (10 log10 n), so a season longer than
    that (48 half-hours on fewer than 63,000 values) could never pass there; here lag m is always
    computed, the test itself unchanged.
    """
    y = np.asarray(y, dtype=np.float64)
    if not m or m < 2 or len(y) < 3 * m:
        return False
    r = acf(y, m)  # (m,)
    limit = T_CRIT / np.sqrt(len(y)) * np.sqrt(1 + 2 * np.sum(r[:-1] ** 2))
    return bool(abs(r[-1]) > limit)


def seasonal_indices(y: np.ndarray, m: int) -> np.ndarray:
    """(N,) classical multiplicative decomposition's seasonal component (R's ``decompose``):
    centred moving average of order m (2 x m when m is even) as the trend, the mean ratio
    y / trend at each position in the season, normalised to average 1."""
    from statsmodels.tsa.seasonal import seasonal_decompose

    return np.asarray(
        seasonal_decompose(np.asarray(y, np.float64), "multiplicative", period=m).seasonal
    )


@dataclass
class Deseasonalised:
    """A series divided by its seasonal indices, and the indices of the last season that
    multiply its forecasts back (all ones when the series is not seasonal)."""

    adjusted: np.ndarray  # (N,)
    last_season: np.ndarray  # (m,) or (1,)

    def reseasonalise(self, forecast: np.ndarray) -> np.ndarray:
        """(H, ...) forecasts of the adjusted series -> of the series: step h takes index
        last_season[h mod m], the season continuing after the last value."""
        f = np.asarray(forecast, dtype=np.float64)
        idx = self.last_season[np.arange(len(f)) % len(self.last_season)]  # (H,)
        return f * idx.reshape(-1, *([1] * (f.ndim - 1)))


def deseasonalise(y: np.ndarray, m: int | None) -> Deseasonalised:
    """M4's adjustment: indices only when ``is_seasonal`` says so and every value is positive
    (the multiplicative decomposition divides by them)."""
    y = np.asarray(y, dtype=np.float64)
    if m and is_seasonal(y, m) and np.all(y > 0):
        s = seasonal_indices(y, m)
        return Deseasonalised(y / s, s[-m:])
    return Deseasonalised(y.copy(), np.ones(1))
