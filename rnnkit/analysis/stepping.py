"""Run any recurrent layer one step at a time, with its whole state as one flat vector.

Analysis needs what the fused layers hide: the state s_t after every step, as a tensor that
autograd can differentiate against. Stepping the layer with T=1 and feeding back its final
state gives exactly the same numbers as the whole-sequence call, and each s_t becomes a
node of the graph. Any layer with torch.nn's API works (rnnkit's or torch.nn's, time-major or
``batch_first``), and ``rnnkit.JordanRNN``.

The state s_t of a stack is every layer's hidden state concatenated (and, for an LSTM, every
layer's cell state after them): s_t = [h_t^1 .. h_t^L, c_t^1 .. c_t^L], shape (B, S). For a
Jordan network it is the output o_t of every layer, the quantity its recurrence feeds back.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def is_jordan(rnn: nn.Module) -> bool:
    return type(rnn).__name__ == "JordanRNN"


def is_lstm(rnn: nn.Module) -> bool:
    return getattr(rnn, "mode", None) == "LSTM" or type(rnn).__name__ == "LSTM"


def state_shapes(rnn: nn.Module) -> list[int]:
    """Feature size of each state tensor: [H] (RNN, GRU), [P or H, H] (LSTM), [O] (Jordan)."""
    if is_jordan(rnn):
        return [rnn.output_size]
    if is_lstm(rnn):
        return [rnn.proj_size or rnn.hidden_size, rnn.hidden_size]
    return [rnn.hidden_size]


def state_size(rnn: nn.Module) -> int:
    """S, the length of the flat state vector."""
    return rnn.num_layers * sum(state_shapes(rnn))


def zero_state(rnn: nn.Module, batch: int, like: Tensor) -> Tensor:
    """The flat zero state (B, S) with the dtype and device of ``like``."""
    return like.new_zeros(batch, state_size(rnn))


def unflatten(rnn: nn.Module, s: Tensor) -> tuple[Tensor, ...]:
    """(B, S) -> the layer's state tensors, each (L, B, F)."""
    parts, start, L = [], 0, rnn.num_layers
    for size in state_shapes(rnn):
        chunk = s[:, start : start + L * size]  # (B, L*F)
        parts.append(chunk.reshape(s.shape[0], L, size).transpose(0, 1))  # (L, B, F)
        start += L * size
    return tuple(parts)


def flatten(parts: tuple[Tensor, ...]) -> Tensor:
    """The layer's state tensors (L, B, F) -> (B, S), layers then tensors, as ``unflatten``."""
    return torch.cat([p.transpose(0, 1).reshape(p.shape[1], -1) for p in parts], 1)


def top_output(rnn: nn.Module, s: Tensor) -> Tensor:
    """The top layer's output read from the state (B, S): h_t^L (or o_t^L for Jordan)."""
    return unflatten(rnn, s)[0][-1]


def step(rnn: nn.Module, x_t: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
    """One time step: x_t (B, I), s_{t-1} (B, S) -> (top layer's output (B, ·), s_t (B, S))."""
    state = unflatten(rnn, s)
    time_dim = 1 if getattr(rnn, "batch_first", False) else 0
    y, final = rnn(x_t.unsqueeze(time_dim), state if is_lstm(rnn) else state[0])
    final = tuple(final) if isinstance(final, tuple) else (final,)
    return y.select(time_dim, 0), flatten(final)


def run(rnn: nn.Module, x: Tensor, s0: Tensor) -> tuple[Tensor, list[Tensor]]:
    """Step over x (T, B, I) from s0 (B, S) -> (outputs (T, B, ·), [s_0, s_1, .., s_T])."""
    states, outs = [s0], []
    for t in range(x.shape[0]):
        y, s = step(rnn, x[t], states[-1])
        outs.append(y)
        states.append(s)
    return torch.stack(outs), states
