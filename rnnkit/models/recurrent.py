"""The one place that turns a cell name into a stacked recurrent layer.

Every task model builds its recurrence through ``make_recurrent``, so switching between
rnnkit's layers (hand-derived BPTT, fused kernels) and torch.nn's (cuDNN/ATen) is one argument
and benchmarks compare the two inside the same model and Trainer.
"""

from __future__ import annotations

from torch import nn

from rnnkit.errors import RnnkitError

CELLS = ("lstm", "gru", "rnn", "jordan")
BACKENDS = ("rnnkit", "torch")


def make_recurrent(
    cell: str,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    dropout: float = 0.0,
    batch_first: bool = True,
    backend: str = "rnnkit",
    bidirectional: bool = False,
) -> nn.Module:
    """A stacked recurrent layer with torch.nn's API: ``forward(x, state) -> (y, state)``.

    ``y`` has ``hidden_size`` features for every cell. The state is ``(h, c)`` for LSTM, ``h``
    for GRU and RNN (tanh), and the previous output ``o`` for the Jordan network, whose
    ``output_size`` is set to ``hidden_size`` so that its fed-back output is the layer output.
    ``backend='torch'`` uses torch.nn.LSTM/GRU/RNN (there is no torch.nn Jordan network).
    ``bidirectional=True`` doubles ``y``'s features (forward, then backward), as in torch.nn.
    """
    if cell not in CELLS:
        raise RnnkitError(f"unknown cell {cell!r} (choose one of {', '.join(CELLS)})")
    if backend not in BACKENDS:
        raise RnnkitError(f"unknown backend {backend!r} (choose rnnkit or torch)")
    if hidden_size < 1 or num_layers < 1 or input_size < 1:
        raise RnnkitError("sizes and layer counts must be positive")
    if not 0 <= dropout < 1:
        raise RnnkitError(f"--dropout must be in [0, 1), got {dropout}")
    dropout = dropout if num_layers > 1 else 0.0  # inter-layer dropout needs two layers
    common = dict(num_layers=num_layers, batch_first=batch_first, dropout=dropout)
    if bidirectional:
        common["bidirectional"] = True
    if backend == "torch":
        if cell == "jordan":
            raise RnnkitError("torch.nn has no Jordan network: use --backend rnnkit")
        cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
        return cls(input_size, hidden_size, **common)
    import rnnkit.nn as rnn

    if cell == "jordan":
        return rnn.JordanRNN(input_size, hidden_size, hidden_size, **common)
    cls = {"lstm": rnn.LSTM, "gru": rnn.GRU, "rnn": rnn.RNN}[cell]
    return cls(input_size, hidden_size, **common)
