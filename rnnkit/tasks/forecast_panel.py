"""The forecast task on a panel of series (several at once, as M4 users have them), judged the
way M4 judged: each series' last H values are its test; before them K windows of H values
(``validation_ends``: K rolling validation origins, each H after the one before) are its
validation (early stopping, the combination's choice and its interval's calibration); the rest
is its training part; the model is the ES-RNN hybrid (``models/esrnn.py``)
trained across all the series; the scores are M4's (sMAPE, MASE on the seasonal scale, OWA
relative to Naive2, MSIS of the 95% interval and its coverage), beside M4's benchmarks fitted on
the same values (``baselines/m4.py``).

The series share one season length m (``--period``, or theirs when they agree). A series with a
value at or below 0 is shifted up by its offset (minus its minimum, plus a tenth of its spread)
for the multiplicative smoothing, and the forecasts shifted back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnnkit.baselines import m4 as benchmarks
from rnnkit.data import seasonality
from rnnkit.data.series import Series
from rnnkit.errors import RnnkitError
from rnnkit.models.esrnn import ESRNN
from rnnkit.models.forecaster import ForecasterConfig
from rnnkit.scoring import m4 as scoring
from rnnkit.tasks import panel_combine as combination

QUANTILES = [0.025, 0.5, 0.975]  # M4's 95% prediction intervals
MIN_HISTORY = 200
# An epoch of a panel: this many steps whatever the series' length, so the task's 50 default
# epochs are 500 steps (early stopping ends most sooner). Each step reads every window of every
# series in its batch; a longer series makes a slower step, not a better one, while the
# smoothing coefficients and the network learn per step: with fewer steps on longer series (an
# epoch reading as many windows) hourly's one series of 960 values had 100 steps, and its test
# OWA was 1.08 against 0.43 with 500 (docs/tasks.md).
STEPS_PER_EPOCH = 10
# Validation origins (K) at most. Fixed a priori, never tuned on a test: three windows of H per
# series give a yearly panel of three series 54 calibration values (one window: 18, too few for
# a 95% conformal quantile below the largest score, which needs 19) and let the choice see
# three stretches of each series instead of one, while the training part loses only 2 H more
# (validation_origins lowers K where that would leave too little).
ORIGINS = 3


def validation_origins(lengths: list[int], window: int, horizon: int) -> int:
    """K, the validation origins of a panel: ORIGINS, fewer where the shortest series would
    keep under window + 2 H training values (a window and H + 1 targets to learn from), at
    least 1 (the shortest series the task takes, window + 3 H values, then trains on
    window + H as before)."""
    shortest = min(lengths)
    for k in range(ORIGINS, 1, -1):
        if shortest - (k + 1) * horizon >= window + 2 * horizon:
            return k
    return 1


def validation_ends(origins: int, horizon: int) -> list[int]:
    """How many values before each series' end the K validation origins are, earliest first:
    (K + 1) H, K H, ..., 2 H; the origin ``end`` forecasts the H values that follow it, so the
    last validation window ends where the test begins."""
    ends = [(k + 1) * horizon for k in range(origins, 0, -1)]
    assert all(end - horizon >= horizon for end in ends), "a validation window in the test"
    return ends


def train_end(config: ForecasterConfig) -> int:
    """Values of each series' end that training never fits: the test and the K validation
    windows ((K + 1) H). One model, trained up to the earliest origin, forecasts from every
    later one (each origin's history as its input: the smoothing runs through it, the
    weights stay), so every validation forecast is out of sample. The test is forecast by the
    refit (``ForecastTask.companions``: the same training, for the whole schedule, on the windows up
    to the test origin) unless the run has none; then by this model."""
    return (config.origins + 1) * config.horizon


@dataclass
class Panel:
    """Series cut to one part (N of them), right-aligned in a padded (N, T) tensor."""

    y: Tensor  # (N, T) shifted values; 1 before each series' start
    start: Tensor  # (N,) first real value's column
    index: Tensor  # (N,) the series' numbers in the model
    first: Tensor  # (N,) the first real value's position in the whole series (its season)


def pad_panel(
    values: list[np.ndarray], offsets: list[float], index: list[int],
    first: list[int] | None = None,
) -> Panel:  # fmt: skip
    """``values`` (parts of the run's series ``index``, the first value of each at position
    ``first`` of its whole series: 0 by default) shifted and right-aligned."""
    t = max(len(v) for v in values)
    y = np.ones((len(values), t), dtype=np.float32)  # (N, T)
    start = np.zeros(len(values), dtype=np.int64)
    for i, (v, off) in enumerate(zip(values, offsets, strict=True)):
        y[i, t - len(v) :] = v + off
        start[i] = t - len(v)
    first = [0] * len(values) if first is None else first
    return Panel(torch.from_numpy(y), torch.from_numpy(start), torch.tensor(index),
                 torch.tensor(first, dtype=torch.int64))  # fmt: skip


def latest(values: list[np.ndarray], end: int, history: int) -> tuple[list[np.ndarray], list[int]]:
    """Each series up to ``end`` values before its end, its latest ``history`` values of those,
    and where each part starts in its series."""
    parts = [v[: len(v) - end][-history:] for v in values]
    return parts, [len(v) - end - len(p) for v, p in zip(values, parts, strict=True)]


def offset(y: np.ndarray) -> float:
    low = float(np.min(y))
    return 0.0 if low > 0 else -low + 0.1 * float(np.std(y)) + 1e-6


def default_window(period: int, horizon: int) -> int:
    """A season, at least min(H, 12) values (Smyl used 4 to 24, a season where there is one)."""
    return max(period, min(horizon, 12))


def default_history(horizon: int) -> int:
    return max(20 * horizon, MIN_HISTORY)


def initial_seasons(values: list[np.ndarray], offsets: list[float], m: int, end: int) -> Tensor:
    """(N, m) log seasonal indices to start the smoothing from: classical multiplicative
    decomposition's (M4's) of each series' training part (up to ``end`` values before its end),
    index j for the values j, j + m, ... of the series; 0 (no season) without a season, or
    with fewer than three seasons."""
    out = np.zeros((len(values), max(m, 1)), dtype=np.float32)
    for i, (v, off) in enumerate(zip(values, offsets, strict=True)):
        part = v[: len(v) - end] + off
        if m > 1 and len(part) >= 3 * m and np.all(part > 0):
            s = seasonality.seasonal_indices(part, m)[:m]  # (m,) the first season's
            out[i] = np.log(s / s.mean())
    return torch.from_numpy(out)


def common_period(series: list[Series], given: int | None) -> int:
    if given:
        return given
    periods = {s.period or 1 for s in series}
    if len(periods) > 1:
        raise RnnkitError(
            f"the series have different season lengths {sorted(periods)}: give one with "
            "--period, or forecast each frequency on its own"
        )
    return periods.pop()


def prepare_panel(
    model: ForecasterConfig,
    series: list[Series],
    horizon: int,
    period: int | None,
    window: int | None,
    restored: bool,
) -> dict[str, Any]:
    """Fill the model settings from the panel (unless restored) and return the split info."""
    m = common_period(series, period)
    if not restored:
        model.kind, model.series, model.horizon, model.period = "esrnn", len(series), horizon, m
        model.window = window or default_window(m, horizon)
        model.quantiles = list(QUANTILES)
        model.history = model.history or default_history(horizon)
        model.offsets = [offset(s.values[:-horizon]) for s in series]
        model.origins = validation_origins([len(s.values) for s in series], model.window, horizon)
    need = model.window + 3 * horizon
    short = [f"{s.name} ({len(s.values)})" for s in series if len(s.values) < need]
    if short:
        raise RnnkitError(
            f"each series needs window + 3 x horizon = {need} values (training windows, "
            f"validation and test); too short: {', '.join(short[:5])}"
        )
    return {
        "series": [s.name for s in series],
        "period": m,
        "horizon": horizon,
        "window": model.window,
        "history": model.history,
        "origins": model.origins,
        "frequency": [s.frequency for s in series],
        "sources": [s.source for s in series],
        "lengths": [len(s.values) for s in series],
    }


def cut(model: ForecasterConfig, values: list[np.ndarray], end: int,
        index: range | None = None) -> Panel:  # fmt: skip
    """The series ``index`` (all by default), each up to ``end`` values before its end and
    only its latest ``history`` values of those."""
    index = list(index if index is not None else range(len(values)))
    parts, first = latest([values[i] for i in index], end, model.history)
    return pad_panel(parts, [model.offsets[i] for i in index], index, first)


def loss(model: ESRNN, batch: Panel) -> tuple[Tensor, int]:
    """Pinball loss over every window of every series whose H targets are known."""
    c = model.config
    w, h = c.window, c.horizon
    out, level, future = model(
        batch.y, batch.start, batch.index, batch.first
    )  # (K, N, T', H, Q) ...
    n_win = batch.y.shape[1] - w - h + 1
    if n_win < 1:
        raise RnnkitError("the series are too short for one training window")
    target = batch.y.unfold(-1, h, 1)[:, w:]  # (N, n_win, H) y_{t+1..t+H}
    z = torch.log(target[None] / (level[..., :n_win, None] * future[:, :, :n_win]))  # (K,N,n,H)
    valid = (torch.arange(n_win) >= batch.start[:, None])[None, :, :, None]  # (1, N, n, 1)
    z = torch.where(valid, z, torch.zeros_like(z))
    pred = out[:, :, :n_win]  # (K, N, n, H, Q)
    err = z[..., None] - pred
    q = model.q
    per = torch.maximum(q * err, (q - 1) * err) * valid[..., None]
    count = int(valid.sum()) * h * len(c.quantiles) * out.shape[0]
    loss = per.sum() / max(count, 1)
    if c.level_penalty > 0 and c.period > 1:
        loss = loss + c.level_penalty * level_wiggle(level, batch.start)
    return loss, int(valid.sum())


def level_wiggle(level: Tensor, start: Tensor) -> Tensor:
    """Mean over the series' own times of the squared change of the log level's growth,
    (log l_t - 2 log l_{t-1} + log l_{t-2})^2, from levels (K, N, T') and first times (N,)."""
    log_level = torch.log(level)
    curve = log_level[..., 2:] - 2 * log_level[..., 1:-1] + log_level[..., :-2]  # (K, N, T'-2)
    own = (torch.arange(curve.shape[-1]) >= start[:, None])[None]  # (1, N, T'-2)
    n = int(own.sum()) * level.shape[0]
    return (curve.square() * own).sum() / max(n, 1)


@torch.no_grad()
def forecast(model: ESRNN, panel: Panel) -> np.ndarray:
    """(N, H, Q) forecasts after the end of each series, the members' mean, in its units."""
    model.eval()
    out, level, future = model(panel.y, panel.start, panel.index, panel.first)
    f = torch.exp(out[:, :, -1]) * level[:, :, -1, None, None] * future[:, :, -1, :, None]
    f = f.mean(0).sort(-1).values.double().numpy()  # (N, H, Q) quantiles kept in order
    offsets = np.array(model.config.offsets)[panel.index.numpy()]
    return f - offsets[:, None, None]


def m4_table(
    values: list[np.ndarray], names: list[str], h: int, m: int, forecasts: dict[str, np.ndarray]
) -> dict[str, Any]:
    """Per series and overall sMAPE, MASE and OWA of each method's (N, H) test forecasts."""
    rows = {name: {} for name in names}
    for method, f in forecasts.items():
        for i, (name, v) in enumerate(zip(names, values, strict=True)):
            rows[name][method] = scoring.score_m4(v[:-h], v[-h:], f[i], m, forecasts["naive2"][i])
    overall = {}
    for method in forecasts:
        smapes = [rows[n][method]["smape"] for n in names]
        mases = [rows[n][method]["mase"] for n in names]
        owas = [rows[n][method]["owa"] for n in names]
        overall[method] = {
            "smape": float(np.mean(smapes)),
            "mase": float(np.mean(mases)),
            "owa": scoring.owa_of_set(
                smapes,
                mases,
                [rows[n]["naive2"]["smape"] for n in names],
                [rows[n]["naive2"]["mase"] for n in names],
            ),
            "mean_owa": float(np.nanmean(owas)),
        }
    return {"series": rows, "overall": overall}


def baseline_forecasts(
    values: list[np.ndarray], h: int, m: int, history: int,
    names: tuple[str, ...] = benchmarks.M4_BASELINES,
) -> dict[str, np.ndarray]:  # fmt: skip
    """Each M4 benchmark's (N, H) forecasts of the last h values from the ``history`` values
    before them: the values the ES-RNN sees (a seasonal auto-ARIMA over 2,800 monthly values
    takes minutes, and the comparison is fairer)."""
    return {b: np.stack([benchmarks.BASELINES[b](v[:-h][-history:], h, m) for v in values])
            for b in names}  # fmt: skip


STATISTICAL = tuple(name for name in combination.MEMBERS if name != "esrnn")


def quantiles_at(model: ESRNN, values: list[np.ndarray], index: list[int], end: int) -> np.ndarray:
    """The ES-RNN's (N, H, Q) forecasts from ``end`` values before each series' end; ``values``
    the run's series ``index``."""
    c = model.config
    parts, first = latest(values, end, c.history)
    return forecast(model, pad_panel(parts, [c.offsets[i] for i in index], index, first))


def member_forecasts(
    model: ESRNN, values: list[np.ndarray], index: list[int], end: int, m: int,
    arima: list[dict[str, Any] | None] | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:  # fmt: skip
    """The combination's members' (N, H) forecasts from ``end`` values before each series'
    end, and the ES-RNN's (N, H, Q) quantiles there; ``values`` the run's series ``index``.
    ``arima``, one entry per series: the ARIMA settings to refit (``arima_fit``); where an
    entry is None the search runs and its settings are written there."""
    c = model.config
    parts, _ = latest(values, end, c.history)
    q = quantiles_at(model, values, index, end)
    stats = {b: np.stack([benchmarks.BASELINES[b](p, c.horizon, m) for p in parts])
             for b in STATISTICAL if b != "arima" or arima is None}  # fmt: skip
    if arima is not None:
        fits = [benchmarks.arima_fit(p, c.horizon, m, s) for p, s in zip(parts, arima, strict=True)]
        arima[:] = [spec for _, spec in fits]
        stats["arima"] = np.stack([f for f, _ in fits])
    return {"esrnn": q[..., 1], **stats}, q


def fit_combination(
    model: ESRNN, values: list[np.ndarray], index: list[int], m: int
) -> dict[str, Any]:
    """The combination's rule and interval factor from the K validation origins (the K H values
    before the test, which training never fitted), pooled: each (origin, series) pair is a row,
    the benchmarks refitted at each origin on the ``history`` values before it (ARIMA with the
    orders its search found at the earliest)."""
    c = model.config
    h = c.horizon
    rows: dict[str, list] = {"members": [], "q": [], "naive2": [], "naive": [], "insample": [],
                             "truth": []}  # fmt: skip
    # ARIMA's orders searched at the earliest origin and refitted at the later ones: the search
    # K times would add minutes per frequency (seasonal, monthly and hourly), and orders from
    # the earliest origin never saw a validation value
    arima: list[dict[str, Any] | None] = [None] * len(values)
    for end in validation_ends(c.origins, h):
        members, q = member_forecasts(model, values, index, end, m, arima)
        insample = [v[:-end] for v in values]
        truth = [v[len(v) - end : len(v) - end + h] for v in values]
        assert all(len(v) - end + h <= len(v) - h for v in values), "validation reads the test"
        rows["members"].append(members)
        rows["q"].append(q)
        rows["naive2"].append(
            np.stack([benchmarks.naive2(x[-c.history :], h, m) for x in insample])
        )
        rows["naive"].append(combination.naive_scale(insample, h, c.history))
        rows["insample"] += insample
        rows["truth"] += truth
    members = {
        name: np.concatenate([r[name] for r in rows["members"]]) for name in rows["members"][0]
    }
    fitted = combination.fit(members, np.concatenate(rows["naive2"]), np.concatenate(rows["q"]),
                             rows["insample"], rows["truth"], m,
                             naive=np.concatenate(rows["naive"]),
                             series=list(range(len(values))) * len(rows["naive"]),
                             interval_kind=c.interval)  # fmt: skip
    return {**fitted, "origins": c.origins}


def combined(
    members: dict[str, np.ndarray], q: np.ndarray, fitted: dict[str, Any], naive: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """rnnkit's (N, H) forecast and its interval (lower, upper): the fitted rule's forecast and,
    around it, the fitted interval: the ES-RNN's (N, H, Q) quantiles' half-widths or the
    series' k-step moves ``naive`` (N, H) (``panel_combine.naive_scale``), times its factor
    (runs fitted before the naive interval existed have the quantile one)."""
    center = combination.combine(members, fitted.get("rule", "median"))
    if fitted.get("interval", "quantiles") == "naive":
        return (center, *combination.naive_interval(center, naive, fitted["naive_scale"]))
    return (center, *combination.interval(center, q, fitted["interval_scale"]))


def test_panel(
    model: ESRNN,
    values: list[np.ndarray],
    info: dict[str, Any],
    fitted: dict[str, Any] | None = None,
    index: list[int] | None = None,
    validated: ESRNN | None = None,
) -> dict[str, Any]:
    """M4's scores of rnnkit (the combination), the ES-RNN alone and M4's benchmarks on the
    last H values of ``values`` (the run's series ``index``, all by default), ``model``
    forecasting; the combination's rule and interval are fitted on ``validated``'s (default:
    ``model``'s) forecasts of the validation windows unless ``fitted`` is given (a loaded
    run's), and the quantile interval takes ``validated``'s half-widths: the ones its factor
    was fitted in."""
    c = model.config
    h, m = c.horizon, info["period"]
    index = list(range(len(values))) if index is None else index
    names = [info["series"][i] for i in index]
    if fitted is None:
        fitted = fit_combination(model if validated is None else validated, values, index, m)
    q = quantiles_at(model, values, index, h)
    # a refit's quantiles are narrower than the validated model's, trained on less for less
    # long (co2-weekly covered 38% with them, seed 0): its center, the validated widths
    widths = (
        q if validated is None or validated is model else quantiles_at(validated, values, index, h)
    )
    forecasts = baseline_forecasts(values, h, m, c.history)
    members = {"esrnn": q[..., 1], **{k: forecasts[k] for k in STATISTICAL}}
    naive = combination.naive_scale([v[:-h] for v in values], h, c.history)  # (N, H)
    center, lower, upper = combined(members, widths, fitted, naive)
    # the median of the four beside the chosen one: what the choice gained or lost
    median = combination.combine(members, "median")
    ours = {"rnnkit": center, "esrnn": q[..., 1], "median": median}
    table = m4_table(values, names, h, m, {**ours, **forecasts})
    bounds = {"rnnkit": (lower, upper), "esrnn": (q[..., 0], q[..., -1])}
    for method, (lo, hi) in bounds.items():
        for i, (name, v) in enumerate(zip(names, values, strict=True)):
            row = table["series"][name][method]
            row["msis"] = scoring.msis(v[:-h], v[-h:], lo[i], hi[i], m, alpha=0.05)
            row["coverage"] = scoring.coverage(v[-h:], lo[i], hi[i])
        rows = [table["series"][n][method] for n in names]
        table["overall"][method]["msis"] = float(np.mean([r["msis"] for r in rows]))
        table["overall"][method]["coverage"] = float(np.mean([r["coverage"] for r in rows]))
    table["combination"] = fitted
    if "naive_scale" in fitted:  # both calibrated intervals on the test, the kept one and not
        kinds = {
            "quantiles": combination.interval(center, widths, fitted["interval_scale"]),
            "naive": combination.naive_interval(center, naive, fitted["naive_scale"]),
        }
        table["intervals"] = {
            kind: {"coverage": float(np.mean([scoring.coverage(v[-h:], lo[i], hi[i])
                                              for i, v in enumerate(values)])),
                   "msis": float(np.mean([scoring.msis(v[:-h], v[-h:], lo[i], hi[i], m, 0.05)
                                          for i, v in enumerate(values)]))}
            for kind, (lo, hi) in kinds.items()
        }  # fmt: skip
    return table


def format_panel(r: dict[str, Any]) -> str:
    test = r["test"]
    methods = list(test["overall"])
    lines = [
        f"M4 holdout: the last {r['horizon']} values of each of {len(r['series'])} series "
        f"(season {r['period']}, window {r['window']}); OWA relative to Naive2",
        f"{'series':22s}" + "".join(f"{m:>9s}" for m in methods) + "   (sMAPE / OWA)",
    ]
    for name in r["series"]:
        row = test["series"][name]
        lines.append(f"{name[:22]:22s}" + "".join(f"{row[m]['smape']:9.2f}" for m in methods))
        lines.append(f"{'':22s}" + "".join(f"{row[m]['owa']:9.3f}" for m in methods))
    o = test["overall"]
    for key in ("smape", "mase", "owa", "mean_owa"):
        label = {"owa": "OWA (M4, of means)", "mean_owa": "OWA (mean per series)"}.get(key, key)
        lines.append(f"{label:22s}" + "".join(f"{o[m][key]:9.3f}" for m in methods))
    lines.append(
        f"rnnkit 95% interval: coverage {o['rnnkit']['coverage']:.1%}, "
        f"MSIS {o['rnnkit']['msis']:.3f}"
    )
    if "refit" in test:
        lines.append(
            f"the ES-RNN forecasting the test was refitted up to it: {test['refit']['steps']} "
            f"steps, {test['refit']['train_s']:.0f} s (--no-refit: the validated one)"
        )
    return "\n".join(lines)
