"""The M4 competition's accuracy measures (Makridakis, Spiliotis and Assimakopoulos 2020), as in
its benchmark code (``Benchmarks and Evaluation.R`` of the M4-methods repository):

    sMAPE = 200/h sum |y - f| / (|y| + |f|)
    MASE  = (1/h sum |y - f|) / (1/(n-m) sum_{t>m} |x_t - x_{t-m}|)     x the in-sample part
    MSIS  = (1/h sum (U - L) + 2/a (L - y) [y < L] + 2/a (y - U) [y > U]) / the same scale
    OWA   = (sMAPE / sMAPE_Naive2 + MASE / MASE_Naive2) / 2

m is the season length (1 for a series without one: the one-step naive scale); a = 0.05 for
M4's 95% intervals. M4 reports OWA over a set of series as the ratio of the set's mean sMAPE and
mean MASE to Naive2's (``owa``); per series the same ratio of that series' figures.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rnnkit.errors import RnnkitError

# M4's horizon for each frequency; other sub-daily series take the hourly one
M4_HORIZONS = {
    "yearly": 6,
    "quarterly": 8,
    "monthly": 18,
    "weekly": 13,
    "daily": 14,
    "hourly": 48,
    "sub-daily": 48,
}


def smape(y: np.ndarray, f: np.ndarray) -> float:
    """Symmetric MAPE in percent (0 to 200); a step where truth and forecast are both 0 is 0."""
    y, f = np.asarray(y, np.float64), np.asarray(f, np.float64)
    denom = np.abs(y) + np.abs(f)
    ratio = np.divide(np.abs(y - f), denom, out=np.zeros_like(denom), where=denom > 0)
    return float(200 * ratio.mean())


def seasonal_scale(insample: np.ndarray, m: int | None) -> float:
    """Mean |x_t - x_{t-m}| over the in-sample part (m = 1 without a season); a series that
    repeats itself exactly has none and is refused, since MASE would divide by 0."""
    x = np.asarray(insample, np.float64)
    m = m if m and m >= 1 else 1
    if len(x) <= m:
        raise RnnkitError(f"MASE needs more than one season ({m}) of history, got {len(x)}")
    scale = float(np.abs(x[m:] - x[:-m]).mean())
    if scale == 0:
        raise RnnkitError(f"the series repeats itself at lag {m}: MASE is undefined")
    return scale


def mase(insample: np.ndarray, y: np.ndarray, f: np.ndarray, m: int | None) -> float:
    return float(np.abs(np.asarray(y) - np.asarray(f)).mean()) / seasonal_scale(insample, m)


def msis(
    insample: np.ndarray,
    y: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    m: int | None,
    alpha: float = 0.05,
) -> float:
    """Mean scaled interval score of the (1 - alpha) interval [lo, hi]: width plus 2/alpha times
    each miss, over the seasonal scale."""
    y, lo, hi = (np.asarray(a, np.float64) for a in (y, lo, hi))
    score = (hi - lo) + 2 / alpha * ((lo - y) * (y < lo) + (y - hi) * (y > hi))
    return float(score.mean()) / seasonal_scale(insample, m)


def coverage(y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """Share of the truth inside [lo, hi]."""
    y = np.asarray(y)
    return float(((y >= lo) & (y <= hi)).mean())


def owa(smape_: float, mase_: float, smape_naive2: float, mase_naive2: float) -> float:
    """Overall weighted average relative to Naive2 (1 = as good as Naive2, lower is better)."""
    if smape_naive2 <= 0 or mase_naive2 <= 0:
        return float("nan")  # Naive2 is exact: nothing to be relative to
    return 0.5 * (smape_ / smape_naive2 + mase_ / mase_naive2)


def owa_of_set(
    smapes: Sequence[float],
    mases: Sequence[float],
    naive2_smapes: Sequence[float],
    naive2_mases: Sequence[float],
) -> float:
    """M4's OWA over a set of series: from the set's mean sMAPE and MASE and Naive2's."""
    return owa(
        float(np.mean(smapes)),
        float(np.mean(mases)),
        float(np.mean(naive2_smapes)),
        float(np.mean(naive2_mases)),
    )


def score_m4(
    insample: np.ndarray,
    y: np.ndarray,
    f: np.ndarray,
    m: int | None,
    naive2: np.ndarray | None = None,
) -> dict[str, float]:
    """sMAPE and MASE of one forecast (H,), and its OWA when Naive2's forecast is given."""
    out = {"smape": smape(y, f), "mase": mase(insample, y, f, m)}
    if naive2 is not None:
        out["owa"] = owa(out["smape"], out["mase"], smape(y, naive2), mase(insample, y, naive2, m))
    return out
