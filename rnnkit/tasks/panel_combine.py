"""rnnkit's forecaster for a panel: the ES-RNN combined with M4's statistical benchmarks, the
weights and the interval width chosen on the validation window, never on the test.

M4's second place (Montero-Manso et al. 2020) weighted statistical forecasters per series; its
winner (Smyl 2020) was the ES-RNN. rnnkit's panel forecast is a weighted mean, per series and
step, of ``MEMBERS``: the ES-RNN's median and the ETS, Theta and ARIMA forecasts. Each series'
weights are proportional to 1 / e^2, e being the member's error on that series' validation
window (the H values before the test; each member forecast them from the values before them):

    e = (sMAPE / mean sMAPE of the members + MASE / mean MASE of the members) / 2

so a member that did poorly on a series' recent past counts little there, and equal errors give
the plain mean (a combination's usual strength).

The 95% interval is the ES-RNN's (its 2.5% and 97.5% quantiles, trained with the pinball loss)
around the combined forecast, its two half-widths multiplied by one factor c for the panel:
split-conformal calibration (Vovk et al. 2005; Romano et al. 2019) on the validation window, c
the ceil((n + 1) 0.95)-th smallest of the n scores max((f - y) / (f_med - f_lo),
(y - f) / (f_hi - f_med)) over every validation value of every series. The ES-RNN's early
stopping also watched that window, so its intervals there are, if anything, a little narrow
and c a little wide.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rnnkit.scoring import m4 as scoring

MEMBERS = ("esrnn", "ets", "theta", "arima")
LEVEL = 0.95
POWER = 2  # weights 1 / e^POWER
FLOOR = 1e-3  # a member's error floor (relative): a perfect fit takes no more than this says


def member_weights(
    forecasts: dict[str, np.ndarray], insample: list[np.ndarray], truth: list[np.ndarray], m: int
) -> np.ndarray:
    """(N, len(MEMBERS)) weights, each row summing to 1, from the members' (N, H) forecasts of
    ``truth`` (N series' validation values) made from ``insample`` (the values before them)."""
    n = len(truth)
    smapes = np.zeros((n, len(MEMBERS)))
    mases = np.zeros((n, len(MEMBERS)))
    for j, name in enumerate(MEMBERS):
        for i in range(n):
            s = scoring.score_m4(insample[i], truth[i], forecasts[name][i], m)
            smapes[i, j], mases[i, j] = s["smape"], s["mase"]
    err = 0.5 * (relative(smapes) + relative(mases))  # (N, C)
    w = 1.0 / np.maximum(err, FLOOR) ** POWER
    return w / w.sum(1, keepdims=True)


def relative(e: np.ndarray) -> np.ndarray:
    """Each row divided by its mean; a row of zeros or non-finite values: all ones."""
    mean = e.mean(1, keepdims=True)
    ok = np.isfinite(mean) & (mean > 0)
    return np.where(ok, e / np.where(ok, mean, 1.0), 1.0)


def combine(forecasts: dict[str, np.ndarray], weights: np.ndarray) -> np.ndarray:
    """(N, H): each series' weighted mean of the members' (N, H) forecasts."""
    stacked = np.stack([forecasts[name] for name in MEMBERS], -1)  # (N, H, C)
    return (stacked * weights[:, None, :]).sum(-1)


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
    members: dict[str, np.ndarray],
    quantiles: np.ndarray,
    insample: list[np.ndarray],
    truth: list[np.ndarray],
    m: int,
) -> dict[str, Any]:
    """Weights and interval factor from the validation window: ``members`` (N, H) forecasts
    of ``truth`` from ``insample``, ``quantiles`` the ES-RNN's (N, H, Q) there."""
    weights = member_weights(members, insample, truth, m)
    center = combine(members, weights)
    scale = interval_scale(center, quantiles, np.stack(truth))
    return {"members": list(MEMBERS), "weights": weights.tolist(), "interval_scale": scale}
