"""rnnkit: recurrent neural networks with hand-derived BPTT.

The layers are drop-in replacements for their torch.nn namesakes (same arguments, parameter
names, shapes and errors), plus ``JordanRNN``; see docs/layers.md. The task functions
(``train_lm``, ``generate``, ...) are what the ``rnnkit`` command runs; see
docs/language-model.md.
"""

from rnnkit.nn import GRU, LSTM, RNN, JordanRNN
from rnnkit.nn.cell_modules import GRUCell, LSTMCell, RNNCell
from rnnkit.tasks import complete, evaluate_lm, generate, load_lm, score, train_lm

__all__ = [
    "GRU",
    "GRUCell",
    "JordanRNN",
    "LSTM",
    "LSTMCell",
    "RNN",
    "RNNCell",
    "complete",
    "evaluate_lm",
    "generate",
    "load_lm",
    "score",
    "train_lm",
]
