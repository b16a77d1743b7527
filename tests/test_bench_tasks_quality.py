"""``bench/tasks_quality.py --seeds N``: the summary over seeds, against statistics by hand."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def load_bench():
    path = Path(__file__).resolve().parents[1] / "bench" / "tasks_quality.py"
    spec = importlib.util.spec_from_file_location("tasks_quality", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_summary_gives_mean_and_sample_sd_over_seeds():
    bench = load_bench()
    base = {"task": "t", "figure_name": "test.accuracy", "baseline_name": "baseline.accuracy",
            "bar": "b", "baseline": 0.5, "wall_s": 1.0, "cpu_s": 2.0}  # fmt: skip
    runs = [{**base, "figure": f, "wall_s": w} for f, w in ((0.80, 3.0), (0.82, 5.0), (0.84, 4.0))]
    s = bench.summary(runs)
    assert s["figure"] == pytest.approx(0.82)
    assert s["figure_sd"] == pytest.approx(0.02)  # sqrt((0.02² + 0 + 0.02²) / 2)
    assert s["figures"] == [0.80, 0.82, 0.84] and s["seeds"] == 3
    assert s["baseline"] == 0.5 and s["wall_s"] == 5.0


def test_every_sentiment_set_is_benched_against_the_one_point_bar():
    bench = load_bench()
    for name in ("sentiment-movies", "sentiment-tweets", "sentiment-amazon", "sentiment-nyt"):
        argv, fig, base, bar = bench.TASKS[name]
        assert argv[-1] == name and bar == "accuracy >= baseline + 0.01"


def test_horizon_12_forecasts_are_held_to_the_best_of_the_three_baselines():
    bench = load_bench()
    results = {"baselines": {"naive": {"mase": 2.0}, "seasonal_naive_m12": {"mase": 0.9},
                             "ets": {"mase": 1.1}, "sarima": {"mase": 0.5}}}  # fmt: skip
    assert bench.dig(results, bench.BEST_OF_THREE) == 0.9  # SARIMA is not one of the three
    for series in ("elnino", "sunspots", "co2", "stock-ibm"):
        argv, fig, base, bar = bench.TASKS[f"{series}-h12"]
        assert argv[-3:] == [series, "--horizon", "12"] and base == bench.BEST_OF_THREE
