"""Pictures of a captioner's work: images with their captions, and where it looked per word."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

from torch import Tensor

from rnnkit.plots.figure import save_figure


def _show(ax, image: Tensor) -> None:
    """An image (C, S, S) uint8 on ``ax``, grey when it has one channel."""
    if image.shape[0] == 1:
        ax.imshow(image[0].numpy(), cmap="gray", vmin=0, vmax=255)
    else:
        ax.imshow(image.permute(1, 2, 0).numpy())
    ax.set_xticks([])
    ax.set_yticks([])


def plot_captions(
    images: list[Tensor], outputs: list[str], references: list[str] | None, path: str | Path,
    columns: int = 4,
) -> None:  # fmt: skip
    """A grid PNG: each image with its generated caption (and a reference caption beneath)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(images)
    cols = min(columns, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 4.0 * rows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.axis("off")
            continue
        _show(ax, images[k])
        text = "out: " + textwrap.fill(outputs[k], 34, subsequent_indent="     ")
        if references is not None:
            text += "\nref: " + textwrap.fill(references[k], 34, subsequent_indent="     ")
        ax.set_xlabel(text, fontsize=7, family="monospace", loc="left")
    fig.tight_layout()
    save_figure(fig, path)


def plot_attention_grid(
    image: Tensor, tokens: list[str], weights: Tensor, path: str | Path
) -> None:
    """One panel per emitted word (and the end): the image with the attention weights over the
    g x g grid (T_out, g*g) laid over it, brighter where the decoder looked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    words = [*tokens, "</s>"][: weights.shape[0]]
    g = math.isqrt(weights.shape[1])
    S = image.shape[-1]
    cols = min(6, len(words))
    rows = math.ceil(len(words) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.4 * rows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k >= len(words):
            ax.axis("off")
            continue
        _show(ax, image)
        w = weights[k].float().reshape(g, g).numpy()
        ax.imshow(w / max(w.max(), 1e-9), cmap="inferno", alpha=0.55, extent=(0, S, S, 0),
                  interpolation="bilinear", vmin=0, vmax=1)  # fmt: skip
        ax.set_title(words[k], fontsize=9)
    fig.suptitle("where the decoder looked for each word", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
