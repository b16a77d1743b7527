"""M4's benchmarks: Naive2 and seasonal naive by hand, Comb as the mean of its three parts, and
each fitted method against a second implementation (statsmodels' Holt-Winters for SES, its
Theta model for Theta, statsmodels' SARIMAX at pmdarima's chosen order for auto-ARIMA)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from rnnkit.baselines import m4
from rnnkit.data.seasonality import seasonal_indices
from rnnkit.scoring.m4 import smape
from tests.test_m4_scoring import AIR

Y = np.array(AIR, dtype=np.float64)


def trend_noise(n: int = 80, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 50 + 0.5 * np.arange(n) + np.cumsum(rng.standard_normal(n))


def test_naive2_and_snaive_by_hand():
    s = seasonal_indices(Y, 12)
    f = m4.naive2(Y, 18, 12)
    last = Y[-1] / s[-1]  # the last adjusted value
    np.testing.assert_allclose(f, last * np.tile(s[-12:], 2)[:18])
    np.testing.assert_allclose(m4.snaive(Y, 18, 12), np.tile(Y[-12:], 2)[:18])
    np.testing.assert_allclose(m4.snaive(Y, 3, 1), [Y[-1]] * 3)
    noise = np.random.default_rng(0).standard_normal(60) + 10  # not seasonal: plain naive
    np.testing.assert_allclose(m4.naive2(noise, 4, 12), [noise[-1]] * 4)


def test_comb_is_the_mean_of_ses_holt_damped():
    parts = [m4.ses(Y, 12, 12), m4.holt(Y, 12, 12), m4.damped(Y, 12, 12)]
    np.testing.assert_allclose(m4.comb(Y, 12, 12), np.mean(parts, axis=0), rtol=1e-10)


def test_ses_matches_statsmodels_holt_winters():
    from statsmodels.tsa.holtwinters import SimpleExpSmoothing

    y = trend_noise()[:60] - 0.5 * np.arange(60)  # level with noise
    other = SimpleExpSmoothing(y, initialization_method="estimated").fit().forecast(5)
    # maximum likelihood (ETS) against least squares (Holt-Winters): the same model
    np.testing.assert_allclose(m4.ses(y, 5, 1), other, rtol=2e-3)


def test_theta_matches_statsmodels_theta_model():
    from statsmodels.tsa.forecasting.theta import ThetaModel

    y = trend_noise(120)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        other = ThetaModel(y, deseasonalize=False).fit().forecast(6)
    # M4's Theta.classic fits SES on the theta = 2 line, statsmodels SES with drift on y:
    # equivalent in form (Hyndman and Billah 2003), with smoothing fitted differently
    np.testing.assert_allclose(m4.theta(y, 6, 1), other, rtol=0.02)


def test_auto_arima_matches_statsmodels_at_its_order():
    import pmdarima
    from statsmodels.tsa.arima.model import ARIMA

    y = trend_noise(100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        chosen = pmdarima.auto_arima(y, seasonal=False, suppress_warnings=True)
        trend = "t" if chosen.order[1] == 1 and chosen.with_intercept else None
        trend = trend or ("c" if chosen.with_intercept and chosen.order[1] == 0 else "n")
        other = ARIMA(y, order=chosen.order, trend=trend).fit().forecast(6)
    np.testing.assert_allclose(m4.arima(y, 6, 1), other, rtol=5e-3)


def test_arima_refits_its_searched_orders_without_a_new_search(monkeypatch):
    import pmdarima

    y = trend_noise(100)
    f, spec = m4.arima_fit(y[:80], 6, 1)
    np.testing.assert_allclose(f, m4.arima(y[:80], 6, 1))
    # the same orders on later data: a refit, not a search (auto_arima would now fail)
    monkeypatch.setattr(pmdarima, "auto_arima", lambda *a, **k: 1 / 0)
    again, spec2 = m4.arima_fit(y[:80], 6, 1, spec)
    np.testing.assert_allclose(again, f, rtol=1e-6)  # the same data: the searched model's fit
    later, _ = m4.arima_fit(y, 6, 1, spec)
    assert spec2["order"] == spec["order"] and np.all(np.isfinite(later))


def test_ets_and_arima_beat_naive2_on_airpassengers():
    train, test = Y[:-12], Y[-12:]
    naive2 = smape(test, m4.naive2(train, 12, 12))
    for method in (m4.ets, m4.arima, m4.theta):
        f = method(train, 12, 12)
        assert f.shape == (12,) and np.all(np.isfinite(f))
        assert smape(test, f) < naive2, method.__name__


def test_ets_candidates_follow_r_defaults():
    all_ = m4.ets_candidates(positive=True, seasonal=True)
    assert len(all_) == 15  # 2 errors x 3 trends x 3 seasons, less A,*,M
    assert not any(c["error"] == "add" and c["seasonal"] == "mul" for c in all_)
    assert len(m4.ets_candidates(positive=False, seasonal=True)) == 6


@pytest.mark.parametrize("m", [1, 4, 52])
def test_every_baseline_gives_h_finite_values(m):
    y = trend_noise(160) + 5 * np.sin(2 * np.pi * np.arange(160) / max(m, 2))
    for name, method in m4.BASELINES.items():
        f = method(y, 7, m)
        assert f.shape == (7,) and np.all(np.isfinite(f)), name


def test_arima_with_an_hourly_season_searches_the_adjusted_series(monkeypatch):
    """m = 24: a non-seasonal search on the seasonally adjusted series, the season put back
    (pmdarima's seasonal search with m = 24 took 392 s over 960 values); m = 12 stays
    seasonal."""
    import pmdarima

    search = pmdarima.auto_arima
    asked = []
    monkeypatch.setattr(pmdarima, "auto_arima", lambda y, **kw: asked.append(kw) or search(y, **kw))
    t = np.arange(24 * 8)
    noise = np.random.default_rng(0).standard_normal(len(t))
    y = 100 + 10 * np.sin(2 * np.pi * t / 24) + noise  # (192,) eight days of a daily cycle
    f = m4.arima(y, 24, 24)
    assert asked[-1]["seasonal"] is False and asked[-1]["m"] == 1
    # the season is put back: the next day follows the daily shape, not a flat line
    assert np.corrcoef(f, np.sin(2 * np.pi * t[:24] / 24))[0, 1] > 0.9
    m4.arima(Y[:60], 6, 12)
    assert asked[-1]["seasonal"] is True and asked[-1]["m"] == 12
