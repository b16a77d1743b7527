"""The M4 competition's benchmarks (Makridakis et al. 2020), each forecasting the next h values
of one series y with season length m:

- ``naive2``: the last value of the seasonally adjusted series, seasonality put back (M4's
  reference for OWA); ``snaive``: the last season repeated;
- ``ses``, ``holt``, ``damped``: exponential smoothing without trend, with a linear trend and
  with a damped trend, on the seasonally adjusted series; ``comb``: their mean, M4's "Comb"
  benchmark;
- ``theta``: M4's ``Theta.classic`` on the adjusted series: the mean of the linear-regression
  line (theta = 0) and SES on the theta = 2 line 2y - line;
- ``ets``: automatic ETS (Hyndman et al. 2008), chosen by AICc among additive and
  multiplicative errors, no / additive / damped trend and no / additive / multiplicative season,
  the combinations R's ``forecast::ets`` allows by default;
- ``arima``: automatic ARIMA (Hyndman and Khandakar 2008; pmdarima's stepwise search).

The seasonal adjustment is M4's (``rnnkit.data.seasonality``). R's ``ets`` ignores a season
longer than 24: for m > 24 (weekly 52, half-hourly 48) ETS runs on the adjusted series and
puts the season back, as Comb does. ARIMA does so from m = 24: pmdarima's seasonal search with
m = 24 over the 960 hourly values the panel gives it took 392 s (one search, AMD EPYC Zen 3,
2 threads), and a panel run searches at a validation origin and at the test.
Exponential smoothing is statsmodels' ``ETSModel`` (maximum likelihood, as R's ``ets``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import numpy as np

from rnnkit.baselines.classic import naive, seasonal_naive
from rnnkit.data.seasonality import deseasonalise

MAX_SEASON = 24  # longer seasons: ETS on the adjusted series
MAX_ARIMA_SEASON = 12  # longer seasons (hourly 24 and up): ARIMA on the adjusted series


@contextmanager
def _quiet():
    """Optimiser chatter (convergence, start values) is no concern of the caller's."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def _ets(y: np.ndarray, h: int, **spec) -> tuple[np.ndarray, float]:
    """(forecast (h,), AICc) of one ETS model fitted by maximum likelihood."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    with _quiet():
        fit = ETSModel(y, **spec).fit(disp=False, maxiter=2000)
        return np.asarray(fit.forecast(h), np.float64), float(fit.aicc)


def snaive(y: np.ndarray, h: int, m: int) -> np.ndarray:
    return seasonal_naive(y, h, m) if m > 1 else naive(y, h)


def naive2(y: np.ndarray, h: int, m: int) -> np.ndarray:
    d = deseasonalise(y, m)
    return d.reseasonalise(naive(d.adjusted, h))


def _on_adjusted(method: Callable[[np.ndarray, int], np.ndarray]):
    def forecast(y: np.ndarray, h: int, m: int) -> np.ndarray:
        d = deseasonalise(y, m)
        return d.reseasonalise(method(d.adjusted, h))

    forecast.__doc__ = f"{method.__doc__} (on the seasonally adjusted series)"
    return forecast


def _ses(x: np.ndarray, h: int) -> np.ndarray:
    """Simple exponential smoothing, ETS(A,N,N)"""
    return _ets(x, h, error="add")[0]


def _holt(x: np.ndarray, h: int) -> np.ndarray:
    """Holt's linear trend, ETS(A,A,N)"""
    return _ets(x, h, error="add", trend="add")[0]


def _damped(x: np.ndarray, h: int) -> np.ndarray:
    """Damped trend, ETS(A,Ad,N)"""
    return _ets(x, h, error="add", trend="add", damped_trend=True)[0]


def _theta(x: np.ndarray, h: int) -> np.ndarray:
    """M4's Theta.classic: (SES on 2x - line + line) / 2, the line fitted by least squares"""
    n = len(x)
    slope, intercept = np.polyfit(np.arange(1, n + 1), x, 1)
    line_in = intercept + slope * np.arange(1, n + 1)
    line_out = intercept + slope * np.arange(n + 1, n + h + 1)
    return 0.5 * _ses(2 * x - line_in, h) + 0.5 * line_out


ses, holt, damped, theta = map(_on_adjusted, (_ses, _holt, _damped, _theta))


def comb(y: np.ndarray, h: int, m: int) -> np.ndarray:
    """M4's Comb: the mean of SES, Holt and damped on the seasonally adjusted series."""
    d = deseasonalise(y, m)
    return d.reseasonalise(
        (_ses(d.adjusted, h) + _holt(d.adjusted, h) + _damped(d.adjusted, h)) / 3
    )


def ets_candidates(positive: bool, seasonal: bool) -> list[dict]:
    """R's ets defaults: additive or multiplicative error, no / additive / damped trend, no /
    additive / multiplicative season; multiplicative parts only on positive data, and never
    additive error with multiplicative season (its variance is unbounded)."""
    out = []
    for error in ("add", "mul") if positive else ("add",):
        for trend, damped_ in ((None, False), ("add", False), ("add", True)):
            seasons = [None]
            if seasonal:
                seasons += ["add", "mul"] if positive else ["add"]
            for season in seasons:
                if error == "add" and season == "mul":
                    continue
                out.append(
                    {"error": error, "trend": trend, "damped_trend": damped_, "seasonal": season}
                )
    return out


def ets(y: np.ndarray, h: int, m: int) -> np.ndarray:
    """Automatic ETS: the candidate with the lowest AICc."""
    y = np.asarray(y, np.float64)
    if m > MAX_SEASON:
        d = deseasonalise(y, m)
        return d.reseasonalise(ets(d.adjusted, h, 1))
    seasonal = m > 1 and len(y) >= 2 * m + 2  # R needs two full seasons to start the states
    best, best_aicc = None, np.inf
    for spec in ets_candidates(bool(np.all(y > 0)), seasonal):
        if spec["seasonal"]:
            spec["seasonal_periods"] = m
        try:
            f, aicc = _ets(y, h, **spec)
        except (ValueError, np.linalg.LinAlgError):
            continue
        if np.isfinite(aicc) and np.all(np.isfinite(f)) and aicc < best_aicc:
            best, best_aicc = f, aicc
    return best if best is not None else naive(y, h)


def arima(y: np.ndarray, h: int, m: int) -> np.ndarray:
    """Automatic ARIMA (pmdarima's stepwise auto_arima, seasonal when m > 1)."""
    return arima_fit(y, h, m)[0]


def arima_fit(
    y: np.ndarray, h: int, m: int, spec: dict[str, Any] | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """(forecast (h,), the model's settings): automatic ARIMA, or with ``spec`` (settings an
    earlier call returned) that model's orders refitted to ``y`` without a new search. The
    search is what costs (a seasonal one over 960 hourly values takes minutes; one refit,
    one model's worth of it); a refit that fails searches again."""
    import pmdarima

    y = np.asarray(y, np.float64)
    if m > MAX_ARIMA_SEASON:
        d = deseasonalise(y, m)
        f, spec = arima_fit(d.adjusted, h, 1, spec)
        return d.reseasonalise(f), spec
    with _quiet():
        model = None
        if spec is not None:
            try:
                model = pmdarima.ARIMA(**spec).fit(y)
            except (ValueError, np.linalg.LinAlgError):
                model = None
        if model is None:
            model = pmdarima.auto_arima(
                y,
                m=max(m, 1),
                seasonal=m > 1,
                stepwise=True,
                suppress_warnings=True,
                error_action="ignore",
            )
        return np.asarray(model.predict(h), np.float64), model.get_params()


BASELINES: dict[str, Callable[[np.ndarray, int, int], np.ndarray]] = {
    "naive2": naive2,
    "snaive": snaive,
    "ses": ses,
    "holt": holt,
    "damped": damped,
    "theta": theta,
    "comb": comb,
    "ets": ets,
    "arima": arima,
}
M4_BASELINES = ("naive2", "snaive", "ets", "theta", "arima", "comb")
