"""rnnkit: recurrent neural networks with hand-derived BPTT.

The layers are drop-in replacements for their torch.nn namesakes (same arguments, parameter
names, shapes and errors), plus ``JordanRNN``; see docs/layers.md.
"""

from rnnkit.nn import GRU, LSTM, RNN, JordanRNN
from rnnkit.nn.cell_modules import GRUCell, LSTMCell, RNNCell

__all__ = ["GRU", "GRUCell", "JordanRNN", "LSTM", "LSTMCell", "RNN", "RNNCell"]
