"""rnnkit: recurrent neural networks with hand-derived BPTT.

The layers are drop-in replacements for their torch.nn namesakes (same arguments, parameter
names, shapes and errors), plus ``JordanRNN``; see docs/layers.md. ``import rnnkit`` loads the
layers, cells and kernels only; the task functions (``fit``, ``load_run``, ``train_lm``,
``generate``...) load on first use (docs/ARCHITECTURE.md).
"""

import importlib
from typing import Any

from rnnkit.nn import GRU, LSTM, RNN, JordanRNN
from rnnkit.nn.cell_modules import GRUCell, LSTMCell, RNNCell

_LAZY = {
    "fit": "rnnkit.runs.driver",
    "load_run": "rnnkit.runs.driver",
    "train_lm": "rnnkit.runs.lm",
    "generate": "rnnkit.runs.lm",
    "complete": "rnnkit.runs.lm",
    "score": "rnnkit.runs.lm",
}

__all__ = ["GRU", "GRUCell", "JordanRNN", "LSTM", "LSTMCell", "RNN", "RNNCell", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rnnkit' has no attribute {name!r}")
