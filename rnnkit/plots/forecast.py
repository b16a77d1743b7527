"""A forecast after its history, with the prediction interval."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rnnkit.data.series import Series
from rnnkit.plots.figure import save_figure


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
