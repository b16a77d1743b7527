"""Errors of forecasts (N origins, H steps ahead) against the truth: MAE, RMSE and MASE, whose
scales are the in-sample one-step naive forecast's error and, for a seasonal series, the
seasonal-naive one's (Hyndman and Koehler 2006; the M4 competition's)."""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnkit.errors import RnnkitError


def errors(
    pred: np.ndarray, true: np.ndarray, scale: float, seasonal_scale: float | None = None
) -> dict[str, Any]:
    """MAE, RMSE and MASE of forecasts (N, H) against truth (N, H), and MASE at each of the H
    steps ahead; with ``seasonal_scale``, also the MASE scaled by the seasonal-naive error."""
    e = pred - true
    mae = float(np.abs(e).mean())
    by_step = (np.abs(e).mean(axis=0) / scale).tolist()
    out = {"mae": mae, "rmse": float(np.sqrt((e**2).mean())), "mase": mae / scale,
           "mase_by_step": by_step}  # fmt: skip
    if seasonal_scale is not None:
        out["mase_seasonal"] = mae / seasonal_scale
    return out


def mase_scale(y: np.ndarray) -> float:
    """Mean absolute one-step change: the in-sample naive forecast's error. A series that never
    changes has none, and MASE (error / that) is then undefined: refused, not reported as 0."""
    scale = float(np.abs(np.diff(y)).mean()) if len(y) > 1 else 0.0
    if scale == 0:
        raise RnnkitError("the series does not change over its first part: MASE is undefined")
    return scale


def seasonal_mase_scale(y: np.ndarray, period: int | None) -> float | None:
    """Mean absolute change over one season, mean |y_t - y_{t-m}|: the scale of the seasonal
    MASE (Hyndman and Koehler 2006; the M4 competition's). None without a season or when the
    series repeats exactly."""
    if not period or len(y) <= period:
        return None
    scale = float(np.abs(y[period:] - y[:-period]).mean())
    return scale if scale > 0 else None
