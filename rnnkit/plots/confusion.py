"""The classifier's confusion matrix."""

from __future__ import annotations

from pathlib import Path

from rnnkit.plots.figure import save_figure


def plot_confusion(y_true, y_pred, labels: list[str], path: Path) -> None:
    """Confusion-matrix PNG (rows: true label, columns: predicted), written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, ax = plt.subplots(figsize=(1.2 + 0.6 * len(labels), 1 + 0.6 * len(labels)))
    ConfusionMatrixDisplay.from_predictions(
        y_true, y_pred, labels=labels, display_labels=labels, ax=ax, colorbar=False,
        cmap="Blues",
    )  # fmt: skip
    ax.set_title("test confusion matrix")
    fig.tight_layout()
    save_figure(fig, path)
