"""The one place that turns a cell name into a stacked recurrent layer.

Every task model builds its recurrence through ``make_recurrent``, so switching between
rnnkit's layers (hand-derived BPTT, fused kernels) and torch.nn's (cuDNN/ATen) is one argument
and benchmarks compare the two inside the same model and Trainer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit.config import Settings, setting
from rnnkit.errors import RnnkitError

CELLS = ("lstm", "gru", "rnn", "jordan")
PACKED_CELLS = ("lstm", "gru", "rnn")  # the cells that take PackedSequence (both directions)
BACKENDS = ("rnnkit", "torch")


@dataclass(kw_only=True)
class RecurrentSettings(Settings):
    """The settings every task model shares, spelled the same way in every task."""

    cell: str = setting("lstm", "recurrent cell", choices=CELLS)
    hidden_size: int = setting(128, "hidden units per layer", lo=1, hi=16384, aliases=("--hidden",))
    num_layers: int = setting(1, "stacked recurrent layers", lo=1, hi=64, aliases=("--layers",))
    dropout: float = setting(0.0, "dropout between layers and before the head", lo=0, hi=0.99)
    backend: str = setting(
        "rnnkit", "recurrent layers: rnnkit's, or torch.nn's for comparison", choices=BACKENDS
    )


class TaskModel(nn.Module):
    """Base of the task models: a ``config`` (``Settings``) and the size they report."""

    config: Settings

    def num_parameters(self) -> int:
        """Trainable scalars, shared (tied) tensors counted once."""
        seen = {id(p): p for p in self.parameters() if p.requires_grad}
        return sum(p.numel() for p in seen.values())


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
        raise RnnkitError(f"dropout must be in [0, 1), got {dropout}")
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


def encode_packed(rnn: nn.Module, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    """Run ``rnn`` over padded ``x`` (B, T, F) with per-row ``lengths`` (B,).

    Returns the outputs (B, T, D*H), zero past each row's length, and the final hidden
    state (L*D, B, H) taken at each row's own last step. Padding is never computed.
    """
    if hasattr(rnn, "forward_lengths"):  # rnnkit's layers: the same without the packed data,
        out, state = rnn.forward_lengths(x, lengths)  # so that compile and export take it whole
    else:
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, state = rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    h_n = state[0] if isinstance(state, tuple) else state  # LSTM returns (h, c)
    return out, h_n


def step_mask(lengths: Tensor, steps: int) -> Tensor:
    """(B, T) bool, True at the steps a row really has."""
    return torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None]


@torch.no_grad()
def set_forget_bias(lstm: nn.Module, value: float) -> None:
    """Make b_ih + b_hh of every forget gate equal ``value`` (b_ih's block set to 0)."""
    H = lstm.hidden_size
    for name, p in lstm.named_parameters():
        if name.startswith("bias_"):
            p[H : 2 * H] = value if name.startswith("bias_hh") else 0.0
