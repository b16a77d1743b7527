"""Forecasting: series reading (gaps, bad values, length), baselines, the pinball loss against
numpy's quantile, scaling from the training part only, and the commands end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rnnkit.baselines.classic import infer_period, naive, seasonal_naive, statespace_forecasts
from rnnkit.cli.main import main
from rnnkit.data.series import read_series
from rnnkit.errors import RnnkitError
from rnnkit.models.forecaster import Forecaster, ForecasterConfig, pinball_loss
from rnnkit.runs.driver import make_task
from rnnkit.scoring.forecast import errors, seasonal_mase_scale
from rnnkit.tasks.forecast import split_points


def write_series(path, n=400, seed=0, gaps=()):
    """A noisy sine of period 20 on a trend, with a date column, some cells left empty."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = 10 + 0.02 * t + 3 * np.sin(2 * np.pi * t / 20) + 0.1 * rng.standard_normal(n)
    dates = np.datetime64("2020-01-01") + t
    cells = ["" if i in gaps else f"{v:.5f}" for i, v in enumerate(y)]
    # written newest first: the reader must sort by date
    rows = [f"{d},{c}" for d, c in zip(dates, cells, strict=True)][::-1]
    path.write_text("day,value\n" + "\n".join(rows) + "\n")
    return y


def test_read_series_sorts_interpolates_and_refuses(tmp_path):
    p = tmp_path / "s.csv"
    y = write_series(p, n=50, gaps={10, 11})
    s = read_series(p, "value", "day")
    assert s.interpolated == 2 and s.dates[0] == "2020-01-01"
    np.testing.assert_allclose(s.values[[0, 30]], y[[0, 30]], atol=1e-5)
    np.testing.assert_allclose(s.values[10], y[9] + (y[12] - y[9]) / 3, atol=1e-5)
    p.write_text("value\n1\n2\nabc\n")
    with pytest.raises(RnnkitError, match=r"s.csv:4: 'value' holds 'abc'"):
        read_series(p, "value")
    p.write_text("value\n1\nNA\nnan\nnull\n5\n")
    with pytest.raises(RnnkitError, match="3 of 5 values are missing"):
        read_series(p, "value")
    with pytest.raises(RnnkitError, match="no column 'price'"):
        read_series(p, "price")


def test_baselines_and_errors():
    h = np.array([1.0, 2, 3, 4, 5, 6, 7])
    np.testing.assert_array_equal(naive(h, 3), [7, 7, 7])
    np.testing.assert_array_equal(seasonal_naive(h, 5, 3), [5, 6, 7, 5, 6])
    e = errors(np.array([[1.0, 2]]), np.array([[2.0, 4]]), scale=0.5)
    assert e["mase_by_step"] == pytest.approx([2.0, 4.0])  # |e| per step / scale
    del e["mase_by_step"]
    assert e == pytest.approx({"mae": 1.5, "rmse": np.sqrt(2.5), "mase": 3.0})


def test_seasonal_mase_scale_is_the_mean_change_over_a_season():
    y = np.array([1.0, 4, 2, 8, 3, 5, 9])
    by_hand = np.mean([abs(y[t] - y[t - 3]) for t in range(3, 7)])  # (7 + 1 + 3 + 1) / 4
    assert seasonal_mase_scale(y, 3) == pytest.approx(by_hand) == 3.0
    assert seasonal_mase_scale(y, None) is None and seasonal_mase_scale(y, 7) is None
    assert seasonal_mase_scale(np.tile([1.0, 2.0], 5), 2) is None  # repeats exactly: undefined
    e = errors(np.array([[1.0, 2]]), np.array([[2.0, 4]]), scale=0.5, seasonal_scale=3.0)
    assert e["mase_seasonal"] == pytest.approx(0.5) and e["mase"] == pytest.approx(3.0)


@pytest.mark.parametrize("base", ["naive", "seasonal"])
def test_untrained_forecaster_is_its_base_forecast(base):
    """The head starts at zero, so before training every quantile is the base forecast: the
    last value, or (horizon longer than the season, so it wraps) the value one season back."""
    cfg = ForecasterConfig(window=10, horizon=6, period=4 if base == "seasonal" else 0, base=base,
                           hidden_size=8)  # fmt: skip
    z = torch.randn(3, 10)
    with torch.no_grad():
        out = Forecaster(cfg)(z)  # (3, 6, 3)
    rule = (lambda w: seasonal_naive(w, 6, 4)) if base == "seasonal" else (lambda w: naive(w, 6))
    expected = np.stack([rule(w) for w in z.numpy().astype(np.float64)])  # (3, 6)
    for q in range(out.shape[-1]):
        np.testing.assert_allclose(out[..., q].numpy(), expected, atol=1e-6)


def test_crossed_quantiles_come_out_in_order():
    """Heads trained apart can cross; a forecast never has its point outside its interval."""
    task = make_task("forecast", {"horizon": 3}, {"window": 12, "horizon": 3, "hidden_size": 8})
    model = Forecaster(task.model)
    with torch.no_grad():  # the 5% head far above the 95% one, at every step
        model.head.bias.copy_(torch.tensor([5.0, 0.0, -5.0]).repeat(3))
    pred = task.forecasts(model, torch.randn(4, 12))  # (4, 3, 3)
    assert (np.diff(pred, axis=-1) >= 0).all()
    unsorted = model.unscale(model(torch.randn(1, 12))).detach().numpy()
    assert (np.diff(unsorted, axis=-1) < 0).all()  # the model itself does cross


def test_runs_saved_before_the_base_setting_load_as_naive():
    """Their model config has no base or period, and their weights must still fit."""
    task = make_task("forecast", {"horizon": 3}, {"window": 12, "horizon": 3, "hidden_size": 8})
    assert task.model.base == "naive" and task.model.period == 0
    seasonal = ForecasterConfig(window=12, horizon=3, period=5, base="seasonal", hidden_size=8)
    assert Forecaster(task.model).state_dict().keys() == Forecaster(seasonal).state_dict().keys()
    with pytest.raises(RnnkitError, match="season length within the window"):
        ForecasterConfig(window=12, horizon=3, period=13, base="seasonal").validate()


def test_pinball_minimiser_is_the_quantile():
    """A constant fitted by gradient descent on the pinball loss lands on numpy's quantile."""
    torch.manual_seed(0)
    target = torch.randn(2000, 1) ** 2  # skewed
    q = torch.tensor([0.1, 0.5, 0.9])
    c = torch.zeros(1, 1, 3, requires_grad=True)
    opt = torch.optim.Adam([c], lr=0.02)
    for _ in range(1500):
        opt.zero_grad()
        pinball_loss(c.expand(2000, 1, 3), target, q).backward()
        opt.step()
    expected = np.quantile(target.numpy(), [0.1, 0.5, 0.9])
    np.testing.assert_allclose(c.detach().numpy().ravel(), expected, atol=0.03)


def test_split_refuses_short_series():
    with pytest.raises(RnnkitError, match="shorter than window \\+ horizon"):
        split_points(20, 24, 3, 0.1, 0.2)
    assert split_points(400, 24, 5, 0.1, 0.2) == (280, 320)


def test_train_forecast_and_forecast_end_to_end(tmp_path, capsys):
    data, out = tmp_path / "s.csv", tmp_path / "run"
    y = write_series(data, gaps={7})
    argv = ["train", "forecast", "--data", str(data), "--column", "value", "--date-col", "day",
            "--horizon", "5", "--window", "30", "--period", "20", "--epochs", "40",
            "--hidden", "24", "--lr", "0.01", "--out", str(out), "--quiet", "--json"]  # fmt: skip
    assert main(argv) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["interpolated"] == 1
    assert r["period"] == 20 and r["period_from"] == "given"
    assert {"naive", "seasonal_naive_m20", "ets", "sarima"} <= set(r["baselines"])
    assert len(r["test"]["mase_by_step"]) == 5
    assert r["test"]["mase"] < r["baselines"]["naive"]["mase"]
    cfg = json.loads((out / "config.json").read_text())["model"]
    train_part = read_series(data, "value", "day").values[: r["split"]["train"]]
    assert cfg["mean"] == pytest.approx(train_part.mean()) and cfg["std"] == pytest.approx(
        train_part.std()
    )  # scaling from the training part only, which excludes the later, higher values
    assert cfg["mean"] < y.mean()
    png = tmp_path / "f.png"
    fa = ["forecast", str(out), "--data", str(data), "--date-col", "day", "--png", str(png)]
    assert main([*fa, "--json"]) == 0
    fc = json.loads(capsys.readouterr().out)
    assert len(fc["forecast"]) == 5 and fc["steps"][0] == "2021-02-04"
    assert all(
        lo <= m <= hi for lo, m, hi in zip(fc["lower"], fc["forecast"], fc["upper"], strict=True)
    )
    assert png.stat().st_size > 1000
    assert main(fa) == 2  # the plot exists: refused unless --force
    assert main([*fa, "--force"]) == 0
    assert "2021-02-08" in capsys.readouterr().out


def test_seasonal_base_end_to_end(tmp_path, capsys):
    """--base seasonal trains, reports the seasonal MASE beside the one-step one, and is saved
    with the run; without a season it is refused in one line."""
    data, out = tmp_path / "s.csv", tmp_path / "run"
    y = write_series(data)
    argv = ["train", "forecast", "--data", str(data), "--column", "value", "--date-col", "day",
            "--horizon", "5", "--window", "30", "--period", "20", "--epochs", "2", "--hidden", "8",
            "--base",
            "seasonal", "--out", str(out), "--quiet", "--json"]  # fmt: skip
    assert main(argv) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["base"] == "seasonal"
    train = y[: r["split"]["train"]]
    scale = np.abs(train[20:] - train[:-20]).mean()
    assert r["seasonal_mase_scale"] == pytest.approx(scale, rel=1e-4)  # cells hold 5 decimals
    assert r["test"]["mase_seasonal"] == pytest.approx(r["test"]["mae"] / scale, rel=1e-4)
    cfg = json.loads((out / "config.json").read_text())["model"]
    assert cfg["base"] == "seasonal" and cfg["period"] == 20
    assert main(["evaluate", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["mae"] == pytest.approx(r["test"]["mae"])
    no_season = [a for a in argv if a not in ("--period", "20", "--date-col", "day")]
    no_season[no_season.index(str(out))] = str(tmp_path / "other")
    assert main(no_season) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--base seasonal needs a season length" in err


def test_bad_series_is_one_line_and_exit_2(tmp_path, capsys):
    short = tmp_path / "short.csv"
    short.write_text("v\n" + "\n".join(str(i) for i in range(20)) + "\n")
    base = ["train", "forecast", "--horizon", "3", "--out", str(tmp_path / "o")]
    assert main([*base, "--data", str(short), "--column", "v"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "shorter than window + horizon" in err
    text = tmp_path / "text.csv"
    text.write_text("v\n1\ntwo\n3\n")
    assert main([*base, "--data", str(text), "--column", "v"]) == 2
    assert "text.csv:3: 'v' holds 'two'" in capsys.readouterr().err
    assert main([*base, "--data", str(text)]) == 2  # without --column: read as a panel
    assert "text.csv:3: 'v' holds 'two'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "freq, period, name",
    [("30min", 48, "half-hourly"), ("h", 24, "hourly"), ("D", 7, "daily"), ("W", 52, "weekly"),
     ("MS", 12, "monthly"), ("QS", 4, "quarterly"), ("YS", None, "yearly")],
)  # fmt: skip
def test_season_length_is_inferred_from_the_dates(freq, period, name):
    import pandas as pd

    dates = [str(d) for d in pd.date_range("2020-01-01", periods=40, freq=freq)]
    assert infer_period(dates) == (period, name)
    assert infer_period(None) == (None, None)
    assert infer_period(["2020-01-01", "2020-01-03", "2020-02-19", "2021-01-01"]) == (None, None)


@pytest.mark.parametrize("kind", ["ets", "sarima"])
def test_all_origin_forecasts_equal_statsmodels_own(kind):
    """The vectorised h-step forecasts from every origin equal statsmodels' dynamic
    predictions from the same fitted model, origin by origin."""
    import warnings

    from statsmodels.tsa.statespace.exponential_smoothing import ExponentialSmoothing
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    rng = np.random.default_rng(0)
    t = np.arange(160)
    y = 5 + 0.05 * t + np.sin(2 * np.pi * t / 4) + 0.2 * rng.standard_normal(160)
    origins, h = range(120, 155), 5
    got = statespace_forecasts(kind, y, origins, h, 4, 120)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "ets":
            model = ExponentialSmoothing(y[:120], trend=True, seasonal=4)
        else:
            model = SARIMAX(y[:120], order=(1, 1, 1), seasonal_order=(0, 1, 1, 4))
        fitted = model.fit(disp=False).apply(y)
    for i, o in enumerate(origins):
        want = fitted.get_prediction(start=o, end=o + h - 1, dynamic=True).predicted_mean
        np.testing.assert_allclose(got[i], want, rtol=1e-9, atol=1e-9)
    assert np.abs(got - np.stack([y[o : o + h] for o in origins])).mean() < 0.5  # it forecasts
