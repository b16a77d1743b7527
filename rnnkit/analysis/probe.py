"""The three parts of a language model that the analysis reads: input, recurrence, head.

A ``Probe`` is built from a trained ``LanguageModel`` (``rnnkit.runs.lm.load_lm``) or from a
freshly initialised one, so that gradient flow and activations run the same code on both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

import rnnkit.nn as rnn_layers
from rnnkit.errors import RnnkitError
from rnnkit.models.language_model import LanguageModel, LanguageModelConfig
from rnnkit.models.recurrent import set_forget_bias

CELLS = ("rnn", "rnn-relu", "lstm", "gru", "jordan")


@dataclass
class Probe:
    """``encode``: ids (T, B) -> inputs (T, B, I); ``rnn``: the model's recurrent stack;
    ``head``: top-layer outputs (..., H) -> next-token logits (..., V)."""

    encode: Callable[[Tensor], Tensor]
    rnn: nn.Module
    head: Callable[[Tensor], Tensor]


def probe_of(model: LanguageModel) -> Probe:
    """The probe of a ``LanguageModel`` (put in eval mode: no dropout)."""
    model.eval()

    def encode(ids: Tensor) -> Tensor:
        return model.embed(ids.t()).transpose(0, 1)  # (T, B, I)

    return Probe(encode, model.rnn, model.head)


def fresh_model(
    cell: str,
    vocab_size: int,
    hidden: int = 128,
    layers: int = 1,
    forget_bias: float = 0.0,
    seed: int = 0,
) -> LanguageModel:
    """A freshly initialised one-hot ``LanguageModel`` with the layers' own initialisation.

    One-hot input keeps the input scale free of any embedding's, so that cells differ only by
    their recurrence. ``rnn-relu`` swaps in a ReLU Elman stack of the same shape.
    ``forget_bias`` sets b_ih + b_hh of every LSTM forget gate (0 is torch.nn's
    initialisation in expectation; 1 is the common practice of Gers et al. 2000 and
    Jozefowicz et al. 2015).
    """
    if cell not in CELLS:
        raise RnnkitError(f"unknown cell {cell!r} (choose from {', '.join(CELLS)})")
    torch.manual_seed(seed)
    base = "rnn" if cell == "rnn-relu" else cell
    config = LanguageModelConfig(
        vocab_size=vocab_size, cell=base, hidden_size=hidden, num_layers=layers, one_hot=True
    )
    model = LanguageModel(config)
    if cell == "rnn-relu":
        rnn = model.rnn
        model.rnn = rnn_layers.RNN(
            rnn.input_size, hidden, layers, nonlinearity="relu", batch_first=rnn.batch_first
        )
    if cell == "lstm" and forget_bias:
        set_forget_bias(model.rnn, forget_bias)
    return model.eval()
