"""Many-to-many, aligned: one tag per token from a (by default bidirectional) recurrent layer.

Each token enters as its word embedding concatenated with an embedding of its *shape*
(lower, Title, UPPER, digits, punctuation, @mention, #hashtag, URL...), so that capitalisation
and form, which mark entities, survive lowercasing and unknown words:

    e_t = [E_w w_t ; E_s s_t]     h_t = BiRNN(e)_t     logits_t = V h_t + c

Padded steps are never computed (packed input) and are excluded from the loss by the caller
(targets there are ``-100``, PyTorch's ``ignore_index``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rnnkit.config import setting
from rnnkit.models.recurrent import (
    PACKED_CELLS,
    RecurrentSettings,
    TaskModel,
    encode_packed,
    make_recurrent,
)

SHAPES = (
    "other", "lower", "title", "upper", "mixed", "digit", "punct", "mention", "hashtag", "url",
)  # fmt: skip
_URL = re.compile(r"^(https?://|www\.)", re.I)


def token_shape(token: str) -> int:
    """Index into SHAPES of the form of ``token``."""
    if _URL.match(token):
        return SHAPES.index("url")
    if token.startswith("@") and len(token) > 1:
        return SHAPES.index("mention")
    if token.startswith("#") and len(token) > 1:
        return SHAPES.index("hashtag")
    if token.isdigit():
        return SHAPES.index("digit")
    if not any(ch.isalnum() for ch in token):
        return SHAPES.index("punct")
    if token.islower():
        return SHAPES.index("lower")
    if token.isupper():
        return SHAPES.index("upper")
    if token[:1].isupper() and token[1:].islower():
        return SHAPES.index("title")
    return SHAPES.index("mixed") if any(ch.isalpha() for ch in token) else 0


@dataclass(kw_only=True)
class TaggerConfig(RecurrentSettings):
    """Everything needed to rebuild a SequenceTagger."""

    cell: str = setting("lstm", "recurrent cell", choices=PACKED_CELLS)
    vocab_size: int = setting(1, "vocabulary size (from the data)", lo=1, hi=10**7, cli=False)
    num_tags: int = setting(2, "tags (from the data)", lo=2, hi=10**6, cli=False)
    embed_dim: int = setting(100, "word embedding size", lo=1, hi=16384, aliases=("--embed",))
    shape_dim: int = setting(16, "token-shape embedding size", lo=1, hi=1024)
    bidirectional: bool = setting(True, "read both ways")


class SequenceTagger(TaskModel):
    """Tag logits (B, T, K) for word ids and shape ids (B, T) with per-row lengths (B,)."""

    def __init__(self, config: TaggerConfig):
        super().__init__()
        c = self.config = config.validate()
        self.embed = nn.Embedding(c.vocab_size, c.embed_dim)
        self.shape = nn.Embedding(len(SHAPES), c.shape_dim)
        self.rnn = make_recurrent(
            c.cell, c.embed_dim + c.shape_dim, c.hidden_size, num_layers=c.num_layers,
            dropout=c.dropout, backend=c.backend, bidirectional=c.bidirectional,
        )  # fmt: skip
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.hidden_size * (2 if c.bidirectional else 1), c.num_tags)

    def forward(self, words: Tensor, shapes: Tensor, lengths: Tensor) -> Tensor:
        e = torch.cat([self.embed(words), self.shape(shapes)], dim=-1)  # (B, T, E+S)
        out, _ = encode_packed(self.rnn, self.drop(e), lengths)  # (B, T, D*H)
        return self.head(self.drop(out))  # (B, T, K)
