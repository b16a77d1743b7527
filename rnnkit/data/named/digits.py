"""scikit-learn's 8x8 handwritten digits read row by row: a sequence of 8 steps of 8 pixels."""

from __future__ import annotations

import numpy as np

from rnnkit.data.named import NamedDataset, register
from rnnkit.data.tables import LabelledSequences


def load_digits_rows() -> LabelledSequences:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)  # (N, 8, 8), pixels in [0, 1]
    return LabelledSequences(list(images), [str(int(t)) for t in digits.target])


register(
    NamedDataset(
        "digits-rows",
        "classify",
        "1,797 8x8 digit images, each read as 8 rows of 8 pixels",
        "scikit-learn, sklearn.datasets.load_digits (ships in the wheel)",
        "BSD-3-Clause",
        load_digits_rows,
    )
)
