"""Many-to-one: a recurrent encoder read once over the sequence, pooled, then a linear head.

Padding never reaches the result: the encoder runs on a ``PackedSequence`` (each row stops at
its own length), ``last`` takes each row's final state (for a bidirectional layer, the forward
state at step L-1 and the backward state at step 0, both having seen the whole row), and
``mean``/``max`` pool over the first ``L`` steps only.

    h_{1..L} = RNN(embed(x_{1..L}))          logits = V pool(h_{1..L}) + c
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit.errors import RnnkitError
from rnnkit.models.recurrent import make_recurrent

CELLS = ("lstm", "gru", "rnn")  # the cells that take packed sequences both ways
POOLS = ("last", "mean", "max")


def encode_packed(rnn: nn.Module, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    """Run ``rnn`` over padded ``x`` (B, T, F) with per-row ``lengths`` (B,).

    Returns the outputs (B, T, D*H), zero past each row's length, and the final hidden
    state (L*D, B, H) taken at each row's own last step.
    """
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    out, state = rnn(packed)
    h_n = state[0] if isinstance(state, tuple) else state  # LSTM returns (h, c)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return out, h_n


def step_mask(lengths: Tensor, steps: int) -> Tensor:
    """(B, T) bool, True at the steps a row really has."""
    return torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None]


@dataclass
class ClassifierConfig:
    """Everything needed to rebuild a SequenceClassifier. Exactly one input kind: token ids
    (``vocab_size > 0``) or real-valued feature vectors (``input_size > 0``)."""

    num_classes: int
    vocab_size: int = 0
    input_size: int = 0
    embed_dim: int = 128
    hidden_size: int = 128
    num_layers: int = 1
    cell: str = "lstm"
    bidirectional: bool = False
    pool: str = "last"
    dropout: float = 0.2
    backend: str = "rnnkit"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ClassifierConfig:
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


class SequenceClassifier(nn.Module):
    """logits (B, C) for a batch of variable-length sequences."""

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        c = config
        if (c.vocab_size > 0) == (c.input_size > 0):
            raise RnnkitError("a classifier takes either token ids or feature vectors")
        if c.pool not in POOLS:
            raise RnnkitError(f"unknown --pool {c.pool!r}; choose from {', '.join(POOLS)}")
        if c.num_classes < 2:
            raise RnnkitError("classification needs at least two classes")
        self.config = c
        self.embed = nn.Embedding(c.vocab_size, c.embed_dim) if c.vocab_size else None
        feat = c.embed_dim if c.vocab_size else c.input_size
        if c.cell not in CELLS:
            raise RnnkitError(f"unknown cell {c.cell!r}; choose from {', '.join(CELLS)}")
        self.rnn = make_recurrent(
            c.cell, feat, c.hidden_size, num_layers=c.num_layers, dropout=c.dropout,
            backend=c.backend, bidirectional=c.bidirectional,
        )  # fmt: skip
        width = c.hidden_size * (2 if c.bidirectional else 1)
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(width, c.num_classes)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        """x: (B, T) int64 ids or (B, T, F) floats; lengths (B,) -> logits (B, C)."""
        feats = self.drop(self.embed(x)) if self.embed is not None else x  # (B, T, F)
        out, h_n = encode_packed(self.rnn, feats, lengths)  # (B, T, D*H), (L*D, B, H)
        if self.config.pool == "last":
            dirs = 2 if self.config.bidirectional else 1
            pooled = torch.cat(list(h_n[-dirs:]), dim=-1)  # (B, D*H)
        else:
            mask = step_mask(lengths.to(out.device), out.shape[1])[..., None]  # (B, T, 1)
            if self.config.pool == "mean":
                pooled = (out * mask).sum(1) / lengths.to(out)[:, None]  # (B, D*H)
            else:
                pooled = out.masked_fill(~mask, float("-inf")).amax(1)  # (B, D*H)
        return self.head(self.drop(pooled))  # (B, C)
