r"""A recurrent language model: tokens in, a distribution over the next token out.

.. math::
    e_t = E[x_t] \text{ (or the one-hot vector of } x_t),\quad
    y_t, s_t = \mathrm{RNN}(e_t, s_{t-1}),\quad
    p(x_{t+1} \mid x_{\le t}) = \mathrm{softmax}(V\,\mathrm{dropout}(y_t) + c)

The loss is the mean cross-entropy of the next token. With ``tie_weights`` (needs
``embed == hidden``) the output matrix V is the embedding matrix E.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.errors import RnnkitError
from rnnkit.models.recurrent import BACKENDS, CELLS, make_recurrent


@dataclass
class LanguageModelConfig:
    """Everything that defines a LanguageModel's shape; round-trips through JSON."""

    vocab_size: int
    cell: str = "lstm"
    hidden: int = 256
    layers: int = 2
    embed: int = 64
    one_hot: bool = False
    dropout: float = 0.0
    tie_weights: bool = False
    backend: str = "rnnkit"

    def validate(self) -> None:
        """Raise ``RnnkitError`` for a value no model can be built with."""
        if self.cell not in CELLS:
            raise RnnkitError(f"unknown cell {self.cell!r} (choose one of {', '.join(CELLS)})")
        if self.backend not in BACKENDS:
            raise RnnkitError(f"unknown backend {self.backend!r} (choose rnnkit or torch)")
        if self.vocab_size < 2:
            raise RnnkitError(f"the vocabulary must hold at least 2 tokens, got {self.vocab_size}")
        for name, hi in (("hidden", 16384), ("layers", 64), ("embed", 16384)):
            value = getattr(self, name)
            if not 1 <= value <= hi:
                raise RnnkitError(f"--{name} must be between 1 and {hi}, got {value}")
        if not 0 <= self.dropout < 1:
            raise RnnkitError(f"--dropout must be in [0, 1), got {self.dropout}")
        if self.tie_weights and (self.one_hot or self.embed != self.hidden):
            raise RnnkitError("weight tying needs an embedding with --embed equal to --hidden")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> LanguageModelConfig:
        names = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in d.items() if k in names})
        except TypeError as exc:
            raise RnnkitError(f"model config is malformed ({exc})") from None


class LanguageModel(nn.Module):
    """Embedding (or one-hot) input, stacked recurrent layers, a linear softmax head."""

    def __init__(self, config: LanguageModelConfig):
        super().__init__()
        c = self.config = config
        c.validate()
        in_size = c.vocab_size if c.one_hot else c.embed
        self.embedding = None if c.one_hot else nn.Embedding(c.vocab_size, c.embed)
        self.rnn = make_recurrent(c.cell, in_size, c.hidden, c.layers, c.dropout, True, c.backend)
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.hidden, c.vocab_size)
        if c.tie_weights:
            self.head.weight = self.embedding.weight

    def embed(self, x: Tensor) -> Tensor:
        if self.embedding is None:
            return F.one_hot(x, self.config.vocab_size).float()  # (B, T, V)
        return self.embedding(x)  # (B, T, E)

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """``x`` (B, T) token ids -> logits (B, T, V) and the recurrent state after step T."""
        y, state = self.rnn(self.embed(x), state)  # (B, T, H)
        return self.head(self.drop(y)), state  # (B, T, V)
