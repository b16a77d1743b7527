"""Scores of labels (sequence classification): accuracy and macro-averaged F1 (scikit-learn)."""

from __future__ import annotations

from collections.abc import Sequence


def scores(y_true: Sequence, y_pred: Sequence) -> dict[str, float]:
    """Accuracy and macro-F1 of predicted labels against the true ones."""
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro")),
    }
