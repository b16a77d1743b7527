"""Attention heat maps: output tokens down, source tokens across."""

from __future__ import annotations

from pathlib import Path

from torch import Tensor

from rnnkit.plots.figure import save_figure


def plot_attention(
    weights: Tensor, source: list[str], output: list[str], path: str | Path, title: str = ""
) -> None:
    """Heat map PNG of attention weights (T_out, S): output tokens down, source tokens across."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w = weights[: len(output), : len(source)].float().numpy()
    fig, ax = plt.subplots(figsize=(1.5 + 0.5 * len(source), 1.2 + 0.4 * len(output)))
    ax.imshow(w, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(source)), source, rotation=60, ha="right")
    ax.set_yticks(range(len(output)), output)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    save_figure(fig, path)
