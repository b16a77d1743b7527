r"""A language model over tune tokens that is also told where each token leaves the bar.

.. math::
    e_t = [E[x_t];\ P[b_t]],\quad y_t, s_t = \mathrm{RNN}(e_t, s_{t-1}),\quad
    p(x_{t+1} \mid x_{\le t}) = \mathrm{softmax}(V\,\mathrm{dropout}(y_t) + c)

where ``b_t`` is the bar class after token ``x_t`` (``rnnkit.data.abc_clock``: how much of the
bar is left, or "full", or "already over") and ``P`` a learned embedding of ``position_dim``
per class, concatenated to the token's embedding. The bar class is a function of the tokens
so far, so the model is still a model of the tokens alone; it only no longer has to learn to
add up note lengths over many steps to know when a bar line is due.

``position_dim`` 0 is ``LanguageModel`` itself (runs saved before this model existed have no
``position_dim`` and load as before).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.config import setting
from rnnkit.data.abc_clock import NUM_CLASSES
from rnnkit.errors import RnnkitError
from rnnkit.models.language_model import LanguageModel, LanguageModelConfig
from rnnkit.models.recurrent import make_recurrent


@dataclass(kw_only=True)
class TuneModelConfig(LanguageModelConfig):
    """``LanguageModelConfig`` and the size of the bar-class embedding."""

    position_dim: int = setting(
        0, "size of the embedding of where each token leaves the bar (0: none)", lo=0, hi=4096
    )

    def check(self) -> None:
        super().check()
        if self.position_dim and self.one_hot:
            raise RnnkitError("position_dim needs token embeddings, not one_hot")


class TuneModel(LanguageModel):
    """``LanguageModel`` whose recurrent input is the token embedding and the bar-class
    embedding side by side."""

    def __init__(self, config: TuneModelConfig):
        c = config.validate()
        if not c.position_dim:
            raise RnnkitError("TuneModel needs position_dim > 0 (else use LanguageModel)")
        super().__init__(c)
        self.position = nn.Embedding(NUM_CLASSES, c.position_dim)
        self.rnn = make_recurrent(
            c.cell,
            c.embed_dim + c.position_dim,
            c.hidden_size,
            c.num_layers,
            c.dropout,
            True,
            c.backend,
        )

    def forward(self, x: Tensor, positions: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """``x`` (B, T) token ids, ``positions`` (B, T) their bar classes -> logits (B, T, V)
        and the recurrent state after step T."""
        e = torch.cat([self.embed(x), self.position(positions)], dim=-1)  # (B, T, E + P)
        y, state = self.rnn(e, state)  # (B, T, H)
        return self.head(self.drop(y)), state  # (B, T, V)


def build_tune_model(config: TuneModelConfig) -> LanguageModel:
    """``TuneModel`` when ``position_dim`` > 0, else the plain ``LanguageModel`` (whose weights
    have the same names as those saved before ``position_dim`` existed)."""
    return TuneModel(config) if config.position_dim else LanguageModel(config)
