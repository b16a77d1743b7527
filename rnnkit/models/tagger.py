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
from dataclasses import asdict, dataclass, fields

import torch
from torch import Tensor, nn

from rnnkit.models.classifier import encode_packed
from rnnkit.models.recurrent import make_recurrent

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


@dataclass
class TaggerConfig:
    """Everything needed to rebuild a SequenceTagger."""

    vocab_size: int
    num_tags: int
    embed_dim: int = 100
    shape_dim: int = 16
    hidden_size: int = 128
    num_layers: int = 1
    cell: str = "lstm"
    bidirectional: bool = True
    dropout: float = 0.3
    backend: str = "rnnkit"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TaggerConfig:
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


class SequenceTagger(nn.Module):
    """Tag logits (B, T, K) for word ids and shape ids (B, T) with per-row lengths (B,)."""

    def __init__(self, config: TaggerConfig):
        super().__init__()
        c = config
        self.config = c
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
