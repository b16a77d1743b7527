"""Writing a matplotlib figure: the Agg backend (no screen), PNG bytes, an atomic write."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from rnnkit.files import atomic_write_bytes


def save_figure(fig: Any, path: str | Path, dpi: int = 100) -> None:
    """Render a matplotlib figure to PNG, write it atomically and close the figure."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
