r"""A recurrent language model: tokens in, a distribution over the next token out.

.. math::
    e_t = E[x_t] \text{ (or the one-hot vector of } x_t),\quad
    y_t, s_t = \mathrm{RNN}(e_t, s_{t-1}),\quad
    p(x_{t+1} \mid x_{\le t}) = \mathrm{softmax}(V\,\mathrm{dropout}(y_t) + c)

The loss is the mean cross-entropy of the next token. With ``tie_weights`` (needs
``embed_dim == hidden_size``) the output matrix V is the embedding matrix E.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.config import setting
from rnnkit.errors import RnnkitError
from rnnkit.models.recurrent import RecurrentSettings, TaskModel, make_recurrent


@dataclass(kw_only=True)
class LanguageModelConfig(RecurrentSettings):
    """Everything that defines a LanguageModel's shape; round-trips through JSON."""

    vocab_size: int = setting(2, "vocabulary size (from the data)", lo=2, hi=10**7, cli=False)
    hidden_size: int = setting(256, "hidden units per layer", lo=1, hi=16384, aliases=("--hidden",))
    num_layers: int = setting(2, "stacked recurrent layers", lo=1, hi=64, aliases=("--layers",))
    embed_dim: int = setting(64, "embedding size", lo=1, hi=16384, aliases=("--embed",))
    one_hot: bool = setting(False, "one-hot inputs instead of embeddings")
    tie_weights: bool = setting(False, "share the embedding and output matrices")

    def check(self) -> None:
        if self.tie_weights and (self.one_hot or self.embed_dim != self.hidden_size):
            raise RnnkitError("tie_weights needs an embedding with embed_dim equal to hidden_size")


class LanguageModel(TaskModel):
    """Embedding (or one-hot) input, stacked recurrent layers, a linear softmax head."""

    def __init__(self, config: LanguageModelConfig):
        super().__init__()
        c = self.config = config.validate()
        in_size = c.vocab_size if c.one_hot else c.embed_dim
        self.embedding = None if c.one_hot else nn.Embedding(c.vocab_size, c.embed_dim)
        self.rnn = make_recurrent(
            c.cell, in_size, c.hidden_size, c.num_layers, c.dropout, True, c.backend
        )
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.hidden_size, c.vocab_size)
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
