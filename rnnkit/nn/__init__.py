"""torch.nn-compatible recurrent layers running on rnnkit's cells and kernels."""

from rnnkit.nn.gru import GRU
from rnnkit.nn.jordan import JordanRNN
from rnnkit.nn.lstm import LSTM
from rnnkit.nn.rnn import RNN

__all__ = ["GRU", "JordanRNN", "LSTM", "RNN"]
