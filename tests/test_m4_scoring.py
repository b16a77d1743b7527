"""M4 scoring: sMAPE, MASE on the seasonal scale, MSIS and OWA against values worked by hand
from the definitions in Makridakis et al. (2020); the seasonality test and classical
multiplicative decomposition against a plain re-implementation and R's published figures."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.data.seasonality import acf, deseasonalise, is_seasonal, seasonal_indices
from rnnkit.errors import RnnkitError
from rnnkit.scoring.m4 import coverage, mase, msis, owa, owa_of_set, score_m4, smape


def test_smape_by_hand():
    # 200/2 * (10/210 + 20/380)
    assert smape([100, 200], [110, 180]) == pytest.approx(100 * (10 / 210 + 20 / 380), abs=1e-12)
    assert smape([0, 5], [0, 5]) == 0.0  # 0/0 counts as no error, not NaN
    assert smape([1], [-1]) == pytest.approx(200.0)


def test_mase_uses_the_seasonal_scale():
    x = np.array([1.0, 2, 4, 7])
    # m = 1: scale mean(1, 2, 3) = 2; MAE |8-9|, |10-9| = 1
    assert mase(x, [8, 10], [9, 9], 1) == pytest.approx(0.5)
    # m = 2: scale mean(|4-1|, |7-2|) = 4
    assert mase(x, [8, 10], [9, 9], 2) == pytest.approx(0.25)
    with pytest.raises(RnnkitError, match="repeats itself"):
        mase([1.0, 2, 1, 2], [1], [1], 2)
    with pytest.raises(RnnkitError, match="more than one season"):
        mase([1.0, 2], [1], [1], 2)


def test_msis_by_hand():
    x = np.array([1.0, 2, 4, 7])  # scale 2 at m = 1
    y, lo, hi = np.array([8.0, 10]), np.array([7.0, 7]), np.array([9.0, 9])
    # widths 2 and 2; the second value misses the top by 1: 2/0.05 * 1 = 40
    assert msis(x, y, lo, hi, 1, alpha=0.05) == pytest.approx((2 + 2 + 40) / 2 / 2)
    assert coverage(y, lo, hi) == 0.5


def test_owa():
    assert owa(10, 1, 20, 2) == pytest.approx(0.5)
    assert owa(20, 2, 20, 2) == pytest.approx(1.0)
    # the set's ratio of means, not the mean of ratios
    assert owa_of_set([10, 30], [1, 1], [20, 20], [1, 3]) == pytest.approx(0.5 * (1 + 0.5))
    r = score_m4(np.array([1.0, 2, 4, 7]), [8, 10], [9, 9], 1, naive2=np.array([7.0, 7]))
    n2 = {"smape": smape([8, 10], [7, 7]), "mase": (1 + 3) / 2 / 2}
    assert r["owa"] == pytest.approx(0.5 * (r["smape"] / n2["smape"] + r["mase"] / n2["mase"]))


def test_acf_matches_numpy_correlate():
    y = np.random.default_rng(0).standard_normal(50)
    z = y - y.mean()
    full = np.correlate(z, z, "full")[len(z) - 1 :] / (z @ z)
    np.testing.assert_allclose(acf(y, 5), full[1:6], atol=1e-12)


def test_seasonality_test():
    t = np.arange(120)
    rng = np.random.default_rng(1)
    assert is_seasonal(10 + np.sin(2 * np.pi * t / 12) + 0.1 * rng.standard_normal(120), 12)
    assert not is_seasonal(rng.standard_normal(120), 12)
    assert not is_seasonal(np.sin(2 * np.pi * t[:30] / 12), 12)  # under 3 seasons
    assert not is_seasonal(rng.standard_normal(120), 1)
    # the band by hand: r_m against 1.645 sqrt((1 + 2 sum_{k<m} r_k^2) / n)
    y = 10 + np.sin(2 * np.pi * t / 4) + rng.standard_normal(120)
    r = acf(y, 4)
    assert is_seasonal(y, 4) == (abs(r[3]) > 1.645 * np.sqrt((1 + 2 * (r[:3] ** 2).sum()) / 120))


def _decompose_by_hand(y: np.ndarray, m: int) -> np.ndarray:
    """R's decompose(type = "multiplicative")$seasonal, written out plainly."""
    w = np.ones(m + 1) / m if m % 2 == 0 else np.ones(m) / m
    if m % 2 == 0:
        w[0] = w[-1] = 0.5 / m
    half = len(w) // 2
    trend = np.full(len(y), np.nan)
    for t in range(half, len(y) - half):
        trend[t] = w @ y[t - half : t + half + 1]
    ratio = y / trend
    figure = np.array([np.nanmean(ratio[i::m]) for i in range(m)])
    figure /= figure.mean()
    return figure[np.arange(len(y)) % m]


AIR = [
    112,
    118,
    132,
    129,
    121,
    135,
    148,
    148,
    136,
    119,
    104,
    118,
    115,
    126,
    141,
    135,
    125,
    149,
    170,
    170,
    158,
    133,
    114,
    140,
    145,
    150,
    178,
    163,
    172,
    178,
    199,
    199,
    184,
    162,
    146,
    166,
    171,
    180,
    193,
    181,
    183,
    218,
    230,
    242,
    209,
    191,
    172,
    194,
    196,
    196,
    236,
    235,
    229,
    243,
    264,
    272,
    237,
    211,
    180,
    201,
    204,
    188,
    235,
    227,
    234,
    264,
    302,
    293,
    259,
    229,
    203,
    229,
    242,
    233,
    267,
    269,
    270,
    315,
    364,
    347,
    312,
    274,
    237,
    278,
    284,
    277,
    317,
    313,
    318,
    374,
    413,
    405,
    355,
    306,
    271,
    306,
    315,
    301,
    356,
    348,
    355,
    422,
    465,
    467,
    404,
    347,
    305,
    336,
    340,
    318,
    362,
    348,
    363,
    435,
    491,
    505,
    404,
    359,
    310,
    337,
    360,
    342,
    406,
    396,
    420,
    472,
    548,
    559,
    463,
    407,
    362,
    405,
    417,
    391,
    419,
    461,
    472,
    535,
    622,
    606,
    508,
    461,
    390,
    432,
]


def test_decomposition_matches_r():
    y = np.array(AIR, dtype=np.float64)
    s = seasonal_indices(y, 12)
    np.testing.assert_allclose(s, _decompose_by_hand(y, 12), atol=1e-12)
    # R: decompose(AirPassengers, "multiplicative")$figure
    r_figure = [
        0.9102304,
        0.8836253,
        1.0073663,
        0.9759060,
        0.9813780,
        1.1127758,
        1.2265555,
        1.2199110,
        1.0604919,
        0.9217572,
        0.8011781,
        0.8988244,
    ]
    np.testing.assert_allclose(s[:12], r_figure, atol=1e-6)
    odd = y[:99]  # an odd season length takes the plain moving average
    np.testing.assert_allclose(seasonal_indices(odd, 7), _decompose_by_hand(odd, 7), atol=1e-12)


def test_deseasonalise_round_trip():
    y = np.array(AIR, dtype=np.float64)
    d = deseasonalise(y, 12)
    s = seasonal_indices(y, 12)
    np.testing.assert_allclose(d.adjusted * s, y)
    f = d.reseasonalise(np.full(18, 2.0))
    np.testing.assert_allclose(f[:12], 2 * s[-12:])
    np.testing.assert_allclose(f[12:], 2 * s[-12:][:6])
    flat = deseasonalise(np.random.default_rng(0).standard_normal(60) + 5, 12)
    np.testing.assert_allclose(flat.reseasonalise(np.ones(3)), np.ones(3))
