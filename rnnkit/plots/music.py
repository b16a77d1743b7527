"""A tune as a piano roll."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

from rnnkit.plots.figure import save_figure


def write_piano_roll(
    played: list[Any], bars: list[tuple[Fraction, str, str]], path: str | Path, title: str
) -> None:
    """One bar per note (time in eighths across, MIDI pitch up), bar lines dotted: ``played``
    and ``bars`` as ``rnnkit.scoring.tunes.perform`` gives them for a tune."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    notes = [p for p in played if p.pitch is not None]
    end = float(sum(length for length, _, _ in bars))
    fig, ax = plt.subplots(figsize=(max(6.0, min(24.0, end / 8)), 3.2))
    for p in notes:
        ax.broken_barh([(float(p.onset), float(p.length) * 0.95)], (p.pitch - 0.4, 0.8),
                       color="tab:blue")  # fmt: skip
    t = 0.0
    for length, _, _ in bars[:-1]:
        t += float(length)
        ax.axvline(t, color="0.7", linestyle=":", linewidth=0.8)
    if notes:
        lo, hi = min(p.pitch for p in notes), max(p.pitch for p in notes)
        ax.set_ylim(lo - 1.5, hi + 1.5)
    ax.set_xlim(0, max(end, 1.0))
    ax.set_xlabel("time (eighth notes)")
    ax.set_ylabel("MIDI pitch")
    ax.set_title(title)
    fig.tight_layout()
    save_figure(fig, path)
