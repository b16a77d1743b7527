"""``rnnkit train forecast`` (fit a forecaster) and ``rnnkit forecast DIR`` (use one)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rnnkit.cli.classify import add_fit_arguments, emit, train_config
from rnnkit.cli.train import one_line_errors, positive_int, probability, train_subparsers


def _series_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", metavar="FILE.csv", help="CSV/TSV file holding the series")
    p.add_argument("--dataset", metavar="NAME",
                   help="sunspots, co2, elnino, stock-aapl, stock-ibm, stock-msft")  # fmt: skip
    p.add_argument("--column", metavar="NAME", help="the numeric column to forecast")
    p.add_argument("--date-col", metavar="NAME", help="date column (rows are sorted by it)")
    p.add_argument("--period", type=positive_int, help="season length for seasonal-naive")


def register(subparsers: Any) -> None:
    p = one_line_errors(
        train_subparsers(subparsers).add_parser(
            "forecast",
            help="train a multi-step forecaster on a time series",
            description="Train a recurrent forecaster of the next H values with a quantile "
            "prediction interval. Scaling is learned on the training part; the test is "
            "rolling-origin over the last --test of the series, beside naive and "
            "seasonal-naive forecasts (MAE, RMSE, MASE).",
        )
    )
    _series_arguments(p)
    p.add_argument("--horizon", type=positive_int, required=True, help="steps to forecast")
    p.add_argument("--window", type=positive_int,
                   help="past values read (default: a season + 8, at least 24)")  # fmt: skip
    p.add_argument("--test", type=probability, default=0.2, help="rolling-origin test fraction")
    add_fit_arguments(p, epochs=50, batch=32, hidden=64, eval_every=25)
    p.set_defaults(func=run_train)

    f = one_line_errors(
        subparsers.add_parser(
            "forecast",
            help="forecast the next values of a series with a trained model",
            description="Print the next H values after the end of the series with the model's "
            "prediction interval, and write a PNG of history, forecast and interval.",
        )
    )
    f.add_argument("model", metavar="DIR", help="run directory of rnnkit train forecast")
    _series_arguments(f)
    f.add_argument("--png", metavar="FILE", help="plot path (default: DIR/forecast.png)")
    f.add_argument("--json", action="store_true", help="print JSON")
    f.set_defaults(func=run_forecast)


def run_train(args: argparse.Namespace) -> int:
    from rnnkit.tasks.forecast import format_results, load_series, train_forecaster

    series, source = load_series(args.data, args.dataset, args.column, args.date_col, args.period)
    model = {"hidden_size": args.hidden, "num_layers": args.layers, "cell": args.cell,
             "backend": args.backend}  # fmt: skip
    results = train_forecaster(
        series, args.out, horizon=args.horizon, window=args.window, source=source,
        model_config=model, train_config=train_config(args), batch_size=args.batch_size,
        val=args.val, test=args.test, resume=args.resume,
    )  # fmt: skip
    emit(results, args.json, format_results(results) + f"\nmodel: {args.out}")
    return 0


def run_forecast(args: argparse.Namespace) -> int:
    from rnnkit.tasks.forecast import forecast_next, load_series, plot_forecast
    from rnnkit.train import checkpoint as ckpt

    config = ckpt.read_json(Path(args.model) / "config.json", "model config")
    column = args.column or config.get("column")
    series, _ = load_series(args.data, args.dataset, column, args.date_col, args.period)
    fc = forecast_next(args.model, series)
    png = Path(args.png) if args.png else Path(args.model) / "forecast.png"
    plot_forecast(series, fc, png)
    fc["png"] = str(png)
    lo, hi = fc["interval"]
    lines = [f"{'step':>12s} {'forecast':>12s} {f'{lo:.0%}':>12s} {f'{hi:.0%}':>12s}"]
    for s, m, a, b in zip(fc["steps"], fc["forecast"], fc["lower"], fc["upper"], strict=True):
        lines.append(f"{s:>12s} {m:12.4f} {a:12.4f} {b:12.4f}")
    if fc["interpolated"]:
        lines.append(f"note: {fc['interpolated']} missing values were interpolated")
    lines.append(f"plot: {png}")
    emit(fc, args.json, "\n".join(lines))
    return 0
