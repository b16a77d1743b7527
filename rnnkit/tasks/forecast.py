"""Forecasting real-valued series: train, rolling-origin test against naive baselines, forecast.

Split (in time order): train | validation | test. The scaling (mean, standard deviation) is
learned on the training part only. Training windows lie wholly in the training part; the
validation origins (early stopping) in the validation part; the test is rolling-origin: from
every origin t in the test part with t + H <= N, forecast y_{t..t+H-1} from the W values
before t, and average the errors over all origins and steps:

    MAE = mean |e|     RMSE = sqrt(mean e^2)     MASE = MAE / mean_{t in train} |y_t - y_{t-1}|

MASE < 1 means the model beats the in-sample one-step naive forecast on average. The
prediction interval is the model's outer quantiles (default 5% and 95%, trained with the
pinball loss); its empirical coverage on the test origins is reported beside it.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.data.series import Series, read_series
from rnnkit.errors import RnnkitError
from rnnkit.files import save_figure
from rnnkit.models.forecaster import Forecaster, ForecasterConfig, pinball_loss
from rnnkit.tasks import baselines
from rnnkit.train import ListBatches, StepOutput, TrainConfig, Trainer
from rnnkit.train import checkpoint as ckpt


def default_window(period: int | None) -> int:
    """Enough to see the last full season and a little more; at least 24 values."""
    return max(24, period + 8) if period else 24


def split_points(n: int, window: int, horizon: int, val: float, test: float) -> tuple[int, int]:
    """(start of validation, start of test); refuses series too short for window + horizon."""
    if not (0 < test < 1 and 0 < val < 1 and val + test < 1):
        raise RnnkitError("--val and --test must be fractions in (0, 1) with val + test < 1")
    if n < window + horizon:
        raise RnnkitError(
            f"the series has {n} values, shorter than window + horizon = {window + horizon}"
        )
    t_test = n - max(horizon, round(n * test))
    t_val = t_test - max(horizon, round(n * val))
    if t_val - horizon < window + 1:
        need = window + 3 * horizon + 1
        raise RnnkitError(
            f"the series has {n} values: too short to train on windows of {window} with "
            f"horizon {horizon} and keep validation and test parts (try --window smaller; "
            f"need roughly {need / (1 - val - test):.0f} values)"
        )
    return t_val, t_test


def windows(z: np.ndarray, origins: range, window: int, horizon: int) -> tuple[Tensor, Tensor]:
    """Inputs (N, W) z[t-W:t] and targets (N, H) z[t:t+H] for every origin t."""
    x = np.stack([z[t - window : t] for t in origins])  # (N, W)
    y = np.stack([z[t : t + horizon] for t in origins])  # (N, H)
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)


def batches_of(x: Tensor, y: Tensor, batch_size: int) -> list[tuple[Tensor, Tensor]]:
    return [(x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, len(x), batch_size)]


def errors(pred: np.ndarray, true: np.ndarray, scale: float) -> dict[str, float]:
    """MAE, RMSE and MASE of forecasts (N, H) against truth (N, H)."""
    e = pred - true
    mae = float(np.abs(e).mean())
    return {"mae": mae, "rmse": float(np.sqrt((e**2).mean())), "mase": mae / scale}


@torch.no_grad()
def forecast_z(model: Forecaster, x: Tensor) -> Tensor:
    """Quantile forecasts (N, H, Q) in scaled units for windows (N, W), in batches."""
    model.eval()
    return torch.cat([model(x[i : i + 512]) for i in range(0, len(x), 512)])


def median_index(quantiles: list[float]) -> int:
    return int(np.argmin([abs(q - 0.5) for q in quantiles]))


def train_forecaster(
    series: Series,
    out_dir: str | Path,
    *,
    horizon: int,
    window: int | None = None,
    source: str = "data",
    model_config: dict | None = None,
    train_config: TrainConfig | None = None,
    batch_size: int = 32,
    val: float = 0.1,
    test: float = 0.2,
    resume: bool = False,
) -> dict[str, Any]:
    """Train a Forecaster on ``series`` and run the rolling-origin test beside naive and
    seasonal-naive forecasts. Returns the results (also in results.json)."""
    if horizon < 1:
        raise RnnkitError(f"--horizon must be at least 1, got {horizon}")
    window = window or default_window(series.period)
    if window < 2:
        raise RnnkitError(f"--window must be at least 2, got {window}")
    y = series.values
    n = len(y)
    t_val, t_test = split_points(n, window, horizon, val, test)
    mean, std = float(y[:t_val].mean()), float(y[:t_val].std())
    std = std if std > 0 else 1.0
    mc = ForecasterConfig(horizon, window, mean=mean, std=std)
    mc = ForecasterConfig.from_dict({**mc.to_dict(), **(model_config or {}), "mean": mean,
                                     "std": std, "horizon": horizon, "window": window})  # fmt: skip
    tc = train_config or TrainConfig(epochs=200, eval_every=50, patience=8)
    tc.monitor, tc.mode = "val_mae", "min"
    z = (y - mean) / std
    x_tr, y_tr = windows(z, range(window, t_val - horizon + 1), window, horizon)
    x_va, y_va = windows(z, range(t_val, t_test - horizon + 1), window, horizon)
    test_origins = range(t_test, n - horizon + 1)
    x_te, _ = windows(z, test_origins, window, horizon)
    y_te = np.stack([y[t : t + horizon] for t in test_origins])  # (N, H) original units
    torch.manual_seed(tc.seed)
    model = Forecaster(mc)
    q = model.q
    mid = median_index(mc.quantiles)

    def loss_fn(m: nn.Module, batch, state) -> StepOutput:
        xb, yb = batch
        return StepOutput(pinball_loss(m(xb), yb, q), yb.numel())

    def metrics_fn(m, src) -> dict:
        pred = forecast_z(m, x_va)[..., mid] * std  # (N, H) errors in original units
        return {"mae": float((pred - y_va * std).abs().mean())}

    out = ckpt.prepare_run_dir(out_dir, "forecast", resume)
    if not resume:
        config = {"task": "forecast", "model": mc.to_dict(), "source": source,
                  "column": series.name, "period": series.period, "train": asdict(tc)}  # fmt: skip
        ckpt.atomic_write_json(out / "config.json", config)
    trainer = Trainer(
        model, loss_fn, ListBatches(batches_of(x_tr, y_tr, batch_size), seed=tc.seed),
        ListBatches(batches_of(x_va, y_va, 512), shuffle=False),
        config=tc, out_dir=out, metrics_fn=metrics_fn, resume=resume, unit="windows",
    )  # fmt: skip
    summary = trainer.fit()
    model.load_state_dict(ckpt.load_weights(ckpt.resolve_checkpoint(out)))
    pred = model.unscale(forecast_z(model, x_te)).numpy()  # (N, H, Q)
    scale = float(np.abs(np.diff(y[:t_val])).mean()) or 1.0
    lo, hi = pred[..., 0], pred[..., -1]
    naive = np.stack([baselines.naive(y[:t], horizon) for t in test_origins])
    results = {
        "task": "forecast",
        "source": source,
        "horizon": horizon,
        "window": window,
        "split": {
            "train": t_val,
            "val": t_test - t_val,
            "test": n - t_test,
            "test_origins": len(test_origins),
        },  # fmt: skip
        "interpolated": series.interpolated,
        "test": {
            **errors(pred[..., mid], y_te, scale),
            "interval": [mc.quantiles[0], mc.quantiles[-1]],
            "coverage": float(((y_te >= lo) & (y_te <= hi)).mean()),
        },  # fmt: skip
        "baselines": {"naive": errors(naive, y_te, scale)},
        "mase_scale": scale,
        "training": {k: summary[k] for k in ("steps", "elapsed_s", "stop_reason", "best_step")},
    }
    if series.period:
        seasonal = [baselines.seasonal_naive(y[:t], horizon, series.period) for t in test_origins]
        results["baselines"][f"seasonal_naive_m{series.period}"] = errors(
            np.stack(seasonal), y_te, scale
        )
    ckpt.atomic_write_json(out / "results.json", results)
    return results


def load_series(
    data: str | None, dataset: str | None, column: str | None, date_col: str | None,
    period: int | None = None,
) -> tuple[Series, str]:  # fmt: skip
    """(series, source name) from a CSV column or a named dataset; exactly one must be given."""
    if (data is None) == (dataset is None):
        raise RnnkitError("give exactly one of --data FILE or --dataset NAME")
    if dataset is not None:
        from rnnkit.data import named

        return named.get(dataset, "forecast").load(), dataset
    if column is None:
        raise RnnkitError("--column NAME is needed with --data")
    return read_series(data, column, date_col, period), str(data)


def forecast_next(run_dir: str | Path, series: Series) -> dict[str, Any]:
    """The next H values after the end of ``series`` with the model's interval."""
    run_dir = Path(run_dir)
    path = ckpt.resolve_checkpoint(run_dir)
    config = ckpt.read_json(run_dir / "config.json", "model config")
    if config.get("task") != "forecast":
        raise RnnkitError(f"{run_dir} holds a {config.get('task')!r} model, not a forecaster")
    mc = ForecasterConfig.from_dict(config["model"])
    if len(series.values) < mc.window:
        n = len(series.values)
        raise RnnkitError(f"the series has {n} values; the model reads windows of {mc.window}")
    model = Forecaster(mc)
    model.load_state_dict(ckpt.load_weights(path))
    x = model.scale(torch.tensor(series.values[-mc.window :], dtype=torch.float32))[None]
    pred = model.unscale(forecast_z(model, x))[0].numpy()  # (H, Q)
    mid = median_index(mc.quantiles)
    steps = future_labels(series.dates, mc.horizon, len(series.values))
    return {
        "steps": steps,
        "forecast": pred[:, mid].tolist(),
        "lower": pred[:, 0].tolist(),
        "upper": pred[:, -1].tolist(),
        "interval": [mc.quantiles[0], mc.quantiles[-1]],
        "interpolated": series.interpolated,
    }


def future_labels(dates: list[str] | None, horizon: int, n: int) -> list[str]:
    """Dates of the next ``horizon`` steps when the dates have a regular frequency, else
    step numbers n, n+1, ..."""
    if dates and len(dates) >= 3:
        import pandas as pd

        try:
            idx = pd.DatetimeIndex(pd.to_datetime(dates[-10:]))
            with warnings.catch_warnings():  # pandas 3 warns that infer_freq's type will change
                warnings.simplefilter("ignore")
                freq = pd.infer_freq(idx)
            if freq:
                fut = pd.date_range(idx[-1], periods=horizon + 1, freq=freq)[1:]
                width = len(dates[-1]) if len(dates[-1]) in (4, 7) else 10  # YYYY, YYYY-MM
                return [str(d.date())[:width] for d in fut]
        except (ValueError, TypeError):
            pass
    return [str(n + h) for h in range(horizon)]


def plot_forecast(series: Series, fc: dict, path: Path, history: int = 200) -> None:
    """PNG of the last ``history`` values, the forecast and its interval (atomic write)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y = series.values[-history:]
    n0 = len(series.values) - len(y)
    h = len(fc["forecast"])
    xs, xf = np.arange(n0, n0 + len(y)), np.arange(n0 + len(y), n0 + len(y) + h)
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(xs, y, lw=1.2, label="history")
    ax.plot(np.r_[xs[-1], xf], np.r_[y[-1], fc["forecast"]], "o-", ms=3, label="forecast")
    lo, hi = fc["interval"]
    ax.fill_between(xf, fc["lower"], fc["upper"], alpha=0.3,
                    label=f"{lo:.0%}-{hi:.0%} quantile interval")  # fmt: skip
    ax.set_xlabel("step" if not series.dates else f"step (last: {series.dates[-1]})")
    ax.set_ylabel(series.name)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)


def format_results(r: dict) -> str:
    t = r["test"]
    lines = [
        f"rolling-origin test: {r['split']['test_origins']} origins x horizon {r['horizon']} "
        f"(window {r['window']}; train {r['split']['train']}, val {r['split']['val']}, "
        f"test {r['split']['test']} values)",
        f"{'':24s} {'MAE':>10s} {'RMSE':>10s} {'MASE':>8s}",
        f"{'rnnkit forecaster':24s} {t['mae']:10.4f} {t['rmse']:10.4f} {t['mase']:8.4f}",
    ]
    for name, b in r["baselines"].items():
        label = "baseline: " + name
        lines.append(f"{label:24s} {b['mae']:10.4f} {b['rmse']:10.4f} {b['mase']:8.4f}")
    lo, hi = t["interval"]
    lines.append(f"{lo:.0%}-{hi:.0%} interval covered {t['coverage']:.1%} of test values")
    if r["interpolated"]:
        lines.append(f"note: {r['interpolated']} missing values were interpolated")
    return "\n".join(lines)
