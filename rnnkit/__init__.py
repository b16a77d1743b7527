"""rnnkit: recurrent neural networks with hand-derived BPTT.

The layers are drop-in replacements for their torch.nn namesakes (same arguments, parameter
names, shapes and errors), plus ``JordanRNN``; see docs/layers.md.
"""

from rnnkit.cells.modules import GRUCell, LSTMCell, RNNCell
from rnnkit.nn import GRU, LSTM, RNN, JordanRNN

__all__ = ["GRU", "GRUCell", "JordanRNN", "LSTM", "LSTMCell", "RNN", "RNNCell"]
