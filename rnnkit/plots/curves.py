"""Curves over training: the loss per step, a validation figure per minute."""

from __future__ import annotations

import json
from pathlib import Path

from rnnkit.plots.figure import save_figure


def plot_losses(records: list[dict], path: Path, title: str = "loss") -> None:
    """Draw training and validation loss against step into the PNG ``path`` (atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(r["step"], r["loss"]) for r in records if "loss" in r]
    val = [(r["step"], r["val_loss"]) for r in records if "val_loss" in r]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    if train:
        ax.plot(*zip(*train, strict=True), label="training", lw=1, alpha=0.8)
    if val:
        ax.plot(*zip(*val, strict=True), "o-", label="validation", lw=1.5, ms=3)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats per item)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if train or val:  # a short run may have logged neither yet
        ax.legend()
    fig.tight_layout()
    save_figure(fig, path)


def plot_curve(run_dir: Path, figure: str, baselines: dict[str, float], path: Path) -> None:
    """``figure`` on the validation split against training minutes, from metrics.jsonl, with
    each baseline's test figure as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = []
    log = run_dir / "metrics.jsonl"
    for line in log.read_text().splitlines() if log.exists() else []:
        row = json.loads(line)
        if f"val_{figure}" in row and "elapsed" in row:
            points.append((row["elapsed"] / 60, row[f"val_{figure}"]))
    fig, ax = plt.subplots(figsize=(6, 4))
    if points:
        ax.plot(*zip(*points, strict=True), marker="o", label=f"validation {figure}")
    for (name, value), style in zip(baselines.items(), ("--", ":", "-."), strict=False):
        ax.axhline(value, linestyle=style, color="gray", label=f"{name} (test)")
    ax.set_xlabel("training minutes")
    ax.set_ylabel(figure)
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)
