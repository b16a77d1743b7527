"""``rnnkit forecast RUN``: the next values of a series from a trained forecaster, with a plot."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rnnkit.cli.flags import add_output, emit, positive_int


def register(subparsers: Any) -> None:
    f = subparsers.add_parser(
        "forecast",
        help="forecast the next values of a series with a trained model",
        description="Print the next H values after the end of the series with the model's "
        "prediction interval, and write a PNG of history, forecast and interval.",
    )
    f.add_argument("model", metavar="RUN", help="run folder of rnnkit train forecast")
    f.add_argument("--data", metavar="FILE", help="CSV/TSV file holding the series")
    f.add_argument("--dataset", metavar="NAME", help="named dataset")
    f.add_argument("--column", metavar="NAME", help="the numeric column (default: the run's)")
    f.add_argument("--date-col", metavar="NAME", help="date column (default: the run's)")
    f.add_argument("--period", type=positive_int, help="season length")
    add_output(f, "--png", (".png",), "plot path (default: RUN/forecast.png)")
    f.add_argument("--json", action="store_true", help="print JSON")
    f.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.plots.forecast import plot_forecast
    from rnnkit.runs.driver import load_run
    from rnnkit.tasks.base import exactly_one_source

    loaded = load_run(args.model, task="forecast")
    task = loaded.task
    changes = {"column": args.column, "date_col": args.date_col, "period": args.period}
    task.data = task.data.replace(**{k: v for k, v in changes.items() if v is not None})
    named, source = exactly_one_source(args.data, args.dataset, "forecast")
    if task.is_panel:
        return run_panel(args, loaded, named or task.load_panel(source))
    series = named or task.load_series(source)
    (fc,) = loaded.predict([series])
    png = Path(args.png) if args.png else Path(args.model) / "forecast.png"
    plot_forecast(series, fc, png)
    fc["png"] = str(png)
    emit(fc, args.json, task.format_prediction(fc) + f"\nplot: {png}")
    return 0


def run_panel(args: argparse.Namespace, loaded: Any, series: Any) -> int:
    """A panel run: the next H values of each series, one plot each (PNG-NAME.png)."""
    from rnnkit.files import new_output
    from rnnkit.plots.forecast import plot_forecast

    series = series if isinstance(series, list) else [series]
    rows = loaded.predict(series)
    base = Path(args.png) if args.png else Path(args.model) / "forecast.png"
    pngs = [base.with_name(f"{base.stem}-{safe_name(s.name)}.png") for s in series]
    if args.png:  # the user's own names: checked before anything is written
        for png in pngs:
            new_output(png, args.force, "--png", ".png")
    for s, fc, png in zip(series, rows, pngs, strict=True):
        plot_forecast(s, fc, png)
        fc["png"] = str(png)
    text = "\n\n".join(loaded.task.format_prediction(fc) + f"\nplot: {fc['png']}" for fc in rows)
    emit(rows, args.json, text)
    return 0


def safe_name(name: str) -> str:
    """A series name as a file-name part (a folder's series are named FILE:COLUMN)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
