"""rnnkit's forecaster for a panel: the ES-RNN combined with M4's statistical benchmarks, its
interval width calibrated on the validation window, never on the test.

The point forecast is the median, per series and step, of ``MEMBERS``: the ES-RNN's median and
the ETS, Theta and ARIMA forecasts (with four members, the mean of the middle two). A median of
forecasters is what SCUM did (Petropoulos and Svetunkov 2020: the median of ETS, CES, ARIMA and
dynamic optimised Theta, which ranked among M4's best): no weights are fitted, so a member that
fails on one series (a trend method through a turning point) is outvoted rather than averaged
in. Weights fitted per series on the validation window were tried first and trusted the ES-RNN
too much: its early stopping watches that same window.

The 95% interval is the ES-RNN's (its 2.5% and 97.5% quantiles, trained with the pinball loss)
around the combined forecast, its two half-widths multiplied by one factor c for the panel:
split-conformal calibration (Vovk et al. 2005; Romano et al. 2019) on the validation window (the
H values before the test; each member forecast them from the values before them), c the
ceil((n + 1) 0.95)-th smallest of the n scores max((f - y) / (q_50 - q_2.5),
(y - f) / (q_97.5 - q_50)) over every validation value of every series (f the combined
forecast, q the ES-RNN's quantiles). The ES-RNN's early stopping also watched that window, so
its intervals there are, if anything, a little narrow and c a little wide.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

MEMBERS = ("esrnn", "ets", "theta", "arima")
LEVEL = 0.95


def combine(forecasts: dict[str, np.ndarray]) -> np.ndarray:
    """(N, H): the median, per series and step, of the members' (N, H) forecasts."""
    return np.median(np.stack([forecasts[name] for name in MEMBERS], -1), -1)


def scores(center: np.ndarray, quantiles: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Conformity scores (N, H): how many of the ES-RNN's half-widths (its (N, H, Q) lowest,
    median and highest quantiles) each true value lies from the combined forecast."""
    med = quantiles[..., len(quantiles[0, 0]) // 2]
    below = np.maximum(med - quantiles[..., 0], 1e-9 * np.abs(med) + 1e-12)
    above = np.maximum(quantiles[..., -1] - med, 1e-9 * np.abs(med) + 1e-12)
    return np.maximum((center - truth) / below, (truth - center) / above)


def interval_scale(center: np.ndarray, quantiles: np.ndarray, truth: np.ndarray) -> float:
    """The split-conformal factor c: the interval center -/+ c half-widths covers LEVEL of the
    validation values (all of them when there are too few to leave any out)."""
    s = np.sort(scores(center, quantiles, truth).reshape(-1))
    k = min(math.ceil((len(s) + 1) * LEVEL), len(s))
    return float(max(s[k - 1], 0.0))


def interval(
    center: np.ndarray, quantiles: np.ndarray, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) (N, H): the ES-RNN's half-widths times ``scale`` around ``center``."""
    med = quantiles[..., len(quantiles[0, 0]) // 2]
    return (center - scale * (med - quantiles[..., 0]),
            center + scale * (quantiles[..., -1] - med))  # fmt: skip


def fit(
    members: dict[str, np.ndarray], quantiles: np.ndarray, truth: list[np.ndarray]
) -> dict[str, Any]:
    """The interval factor from the validation window: ``members`` (N, H) forecasts of
    ``truth``, ``quantiles`` the ES-RNN's (N, H, Q) there."""
    scale = interval_scale(combine(members), quantiles, np.stack(truth))
    return {"members": list(MEMBERS), "rule": "median", "interval_scale": scale}
