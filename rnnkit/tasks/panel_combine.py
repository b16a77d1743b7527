"""rnnkit's forecaster for a panel: the ES-RNN combined with M4's statistical benchmarks, the
combination and its interval width chosen on K rolling validation origins, never on the test.

The candidates (``RULES``) are the median, per series and step, of ``MEMBERS`` (the ES-RNN's
median and the ETS, Theta and ARIMA forecasts; with four members, the mean of the middle two)
and each member alone. Each forecasts the K validation windows (``forecast_panel.
validation_ends``: the K H values before the test, in windows of H, K = 3 by default, fewer
for short series) from the values before each window: the benchmarks refitted at every
origin, the ES-RNN trained once up to the earliest origin and fed each origin's history. The
candidate with the lowest OWA over all the (origin, series) pairs (M4's, from their means,
relative to Naive2 refitted at the same origins) forecasts the test, for every series of the
panel. Pooling the origins is the point: on one window the choice followed whichever method
suited that stretch (a calm window, a trend that then turned), on three it weighs three
stretches of every series. The median is what SCUM did (Petropoulos and Svetunkov 2020: the
median of ETS, CES, ARIMA and dynamic optimised Theta, among M4's best): a member that fails
on one series (a trend method through a turning point) is outvoted. The choice is one per
panel, not per series: K windows of H values per series are still too few to weigh four
forecasters by.

The 95% interval is the ES-RNN's (its 2.5% and 97.5% quantiles, trained with the pinball loss)
around the chosen forecast, its two half-widths multiplied by one factor c per panel (per
frequency in the bench): split-conformal calibration (Vovk et al. 2005; Romano et al. 2019),
c the ceil((n + 1) 0.95)-th smallest of the n scores max((f - y) / (q_50 - q_2.5),
(y - f) / (q_97.5 - q_50)) pooled over every validation value of every origin and series (f
the chosen forecast, q the ES-RNN's quantiles, y the validation value; never a test value).
That is the finite-sample quantile that covers at least 95% of a new exchangeable score; it
needs n >= 19, and below that (a one-series panel with a short horizon) c is the largest
score and ``calibration_values`` in the results says how few there were. Per panel rather
than per series: the scores are already in units of each series' own half-widths, which is
what makes the series' scores comparable, and a series alone has K H scores (18 for a yearly
one), too few for a 95% quantile, with each window's H scores moving together (one regime).
The ES-RNN's early stopping watched the same windows, so its intervals there are, if
anything, a little narrow and c a little wide.

A second interval competes with it, the *naive* one: f -/+ c' d_k, where d_k is how far the
series itself moves in k steps, the mean absolute k-step naive error |x_{t+k} - x_t| over the
last ``history`` values before the origin (k = 1..H), and c' the same split-conformal quantile
of |y - f| / d_k. The ES-RNN learns its quantiles on the training windows, and where the
validation and test windows move more than those (a share price, a load curve in a new
season) they are narrow by a factor that differs per series and per step, which one factor
per panel cannot undo; d_k is each series' own volatility at each horizon and grows with k as
a random walk's spread does. Both are calibrated on the same validation values, so both cover
about 95% there; the one with the lower mean MSIS there (the narrower at equal coverage) is
kept, per panel, as the rule is.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rnnkit.scoring import m4 as scoring

MEMBERS = ("esrnn", "ets", "theta", "arima")
RULES = ("median", *MEMBERS)
LEVEL = 0.95


def combine(forecasts: dict[str, np.ndarray], rule: str = "median") -> np.ndarray:
    """(N, H): the median, per series and step, of the members' (N, H) forecasts, or the
    member ``rule`` names."""
    if rule != "median":
        return forecasts[rule]
    return np.median(np.stack([forecasts[name] for name in MEMBERS], -1), -1)


def scores(center: np.ndarray, quantiles: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Conformity scores (N, H): how many of the ES-RNN's half-widths (its (N, H, Q) lowest,
    median and highest quantiles) each true value lies from the combined forecast."""
    med = quantiles[..., len(quantiles[0, 0]) // 2]
    below = np.maximum(med - quantiles[..., 0], 1e-9 * np.abs(med) + 1e-12)
    above = np.maximum(quantiles[..., -1] - med, 1e-9 * np.abs(med) + 1e-12)
    return np.maximum((center - truth) / below, (truth - center) / above)


def conformal_quantile(scores: np.ndarray) -> float:
    """The ceil((n + 1) LEVEL)-th smallest of the n calibration scores: a factor that covers a
    new exchangeable score with probability at least LEVEL; the largest score when n is too
    small for that rank (n < 19 at 95%)."""
    s = np.sort(scores.reshape(-1))
    k = min(math.ceil((len(s) + 1) * LEVEL), len(s))
    return float(max(s[k - 1], 0.0))


def interval_scale(center: np.ndarray, quantiles: np.ndarray, truth: np.ndarray) -> float:
    """The split-conformal factor c of the quantile interval: center -/+ c half-widths."""
    return conformal_quantile(scores(center, quantiles, truth))


def naive_scale(insample: list[np.ndarray], horizon: int, history: int) -> np.ndarray:
    """d (N, H): each series' mean absolute k-step naive error |x_{t+k} - x_t| over its last
    ``history`` values, k = 1..H (a k longer than that history takes the longest there is),
    floored a hair above zero (a constant stretch)."""
    rows = []
    for x in insample:
        x = np.asarray(x, np.float64)[-history:]
        x = x[np.isfinite(x)]
        moves = [np.abs(x[k:] - x[:-k]).mean() if k < len(x) else np.nan
                 for k in range(1, horizon + 1)]  # fmt: skip
        d = np.array(moves)
        known = np.flatnonzero(np.isfinite(d))
        d[known[-1] + 1 :] = d[known[-1]] if len(known) else 1.0
        floor = 1e-9 * np.abs(x).mean() + 1e-12 if len(x) else 1e-12
        rows.append(np.maximum(d, floor))
    return np.stack(rows)


def naive_interval(
    center: np.ndarray, naive: np.ndarray, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) (N, H): ``scale`` times the series' k-step moves d around ``center``."""
    return center - scale * naive, center + scale * naive


def interval(
    center: np.ndarray, quantiles: np.ndarray, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) (N, H): the ES-RNN's half-widths times ``scale`` around ``center``."""
    med = quantiles[..., len(quantiles[0, 0]) // 2]
    return (center - scale * (med - quantiles[..., 0]),
            center + scale * (quantiles[..., -1] - med))  # fmt: skip


def validation_owa(
    forecast: np.ndarray, naive2: np.ndarray, insample: list[np.ndarray],
    truth: list[np.ndarray], m: int,
) -> float:  # fmt: skip
    """M4's OWA of the (N, H) ``forecast`` of ``truth`` over the series, from their means."""
    rows = [scoring.score_m4(x, y, f, m) for x, y, f in zip(insample, truth, forecast, strict=True)]
    base = [scoring.score_m4(x, y, f, m) for x, y, f in zip(insample, truth, naive2, strict=True)]
    return scoring.owa_of_set([r["smape"] for r in rows], [r["mase"] for r in rows],
                              [r["smape"] for r in base], [r["mase"] for r in base])  # fmt: skip


def per_series_owa(
    forecast: np.ndarray, naive2: np.ndarray, insample: list[np.ndarray],
    truth: list[np.ndarray], m: int, rows: np.ndarray,
) -> float:  # fmt: skip
    """``validation_owa`` over the rows of one series (``rows`` (R,) bool), NaN-free: a series
    Naive2 forecasts exactly gets NaN's stand-in, infinity."""
    picked = np.flatnonzero(rows)
    owa = validation_owa(forecast[picked], naive2[picked], [insample[i] for i in picked],
                         [truth[i] for i in picked], m)  # fmt: skip
    return float(owa) if np.isfinite(owa) else float("inf")


def validation_msis(
    lower: np.ndarray, upper: np.ndarray, insample: list[np.ndarray], truth: list[np.ndarray],
    m: int,
) -> float:  # fmt: skip
    """M4's MSIS of the (N, H) interval over the series, their mean."""
    return float(np.mean([scoring.msis(x, y, lo, hi, m, alpha=1 - LEVEL) for x, y, lo, hi
                          in zip(insample, truth, lower, upper, strict=True)]))  # fmt: skip


def fit(
    members: dict[str, np.ndarray],
    naive2: np.ndarray,
    quantiles: np.ndarray,
    insample: list[np.ndarray],
    truth: list[np.ndarray],
    m: int,
    naive: np.ndarray | None = None,
    series: list[int] | None = None,
    interval_kind: str = "auto",
) -> dict[str, Any]:
    """The rule and the interval from the validation windows: ``members`` (R, H) and
    Naive2's forecasts of ``truth`` made from ``insample``, ``quantiles`` the ES-RNN's
    (R, H, Q) there, one row per (origin, series) pair, all pooled; with ``naive`` (R, H)
    (``naive_scale`` at each origin), the naive interval is calibrated too, and kept when
    ``interval_kind`` is "naive", or "auto" and its validation MSIS is the lower; with
    ``series`` (R,) (the series of each row), each candidate's validation OWA per series is
    reported too (``validation_owa_series``: a diagnostic, the choice stays one per panel)."""
    forecasts = {r: combine(members, r) for r in RULES}  # each (R, H)
    owas = {r: validation_owa(forecasts[r], naive2, insample, truth, m) for r in RULES}
    finite = {r: v for r, v in owas.items() if np.isfinite(v)}
    rule = min(finite, key=finite.get) if finite else "median"
    center, y = forecasts[rule], np.stack(truth)
    scale = interval_scale(center, quantiles, y)
    fitted = {"rule": rule, "validation_owa": owas, "interval": "quantiles",
              "interval_scale": scale, "calibration_values": int(y.size)}  # fmt: skip
    if series is not None:
        ids = np.asarray(series)
        fitted["validation_owa_series"] = {
            r: [per_series_owa(forecasts[r], naive2, insample, truth, m, ids == i)
                for i in range(int(ids.max()) + 1)]
            for r in RULES
        }  # fmt: skip
    if naive is None:
        return fitted
    naive_c = conformal_quantile(np.abs(y - center) / naive)
    msis = {
        "quantiles": validation_msis(*interval(center, quantiles, scale), insample, truth, m),
        "naive": validation_msis(*naive_interval(center, naive, naive_c), insample, truth, m),
    }
    kept = interval_kind
    if interval_kind == "auto":
        kept = "naive" if msis["naive"] < msis["quantiles"] else "quantiles"
    return {**fitted, "interval": kept, "naive_scale": naive_c, "validation_msis": msis}
