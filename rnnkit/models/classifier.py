"""Many-to-one: a recurrent encoder read once over the sequence, pooled, then a linear head.

Padding never reaches the result: the encoder runs on a ``PackedSequence`` (each row stops at
its own length), ``last`` takes each row's final state (for a bidirectional layer, the forward
state at step L-1 and the backward state at step 0, both having seen the whole row), and
``mean``/``max`` pool over the first ``L`` steps only.

    h_{1..L} = RNN(embed(x_{1..L}))          logits = V pool(h_{1..L}) + c

With ``ngram_buckets > 0`` each word's input is its embedding plus the mean of its hashed
character n-grams' embeddings (fastText's subword vectors, ``rnnkit.data.char_ngrams``), so
rare and unseen words are not all one ``<unk>``. With ``ngram_bag`` the output layer also reads
the mean of those n-gram vectors over the text (fastText's document vector) beside the pooled
encoder. At character level each character's input is
its embedding plus the mean of the hashed 2- to 5-grams that end at it (the task hashes them).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rnnkit.config import setting
from rnnkit.errors import RnnkitError
from rnnkit.models.recurrent import (
    PACKED_CELLS,
    RecurrentSettings,
    TaskModel,
    encode_packed,
    make_recurrent,
    step_mask,
)

POOLS = ("last", "mean", "max")


@dataclass(kw_only=True)
class ClassifierConfig(RecurrentSettings):
    """Everything needed to rebuild a SequenceClassifier. Exactly one input kind: token ids
    (``vocab_size > 0``) or real-valued feature vectors (``input_size > 0``); both are set
    from the data, not by the user."""

    cell: str = setting("lstm", "recurrent cell", choices=PACKED_CELLS)
    num_classes: int = setting(2, "classes (from the data)", lo=2, hi=10**6, cli=False)
    vocab_size: int = setting(0, "vocabulary size (from the data)", lo=0, hi=10**7, cli=False)
    input_size: int = setting(0, "features per step (from the data)", lo=0, hi=10**6, cli=False)
    embed_dim: int = setting(128, "embedding size", lo=1, hi=16384, aliases=("--embed",))
    bidirectional: bool = setting(False, "read both ways")
    pool: str = setting("last", "how the steps' outputs become one vector", choices=POOLS)
    ngram_buckets: int | None = setting(
        None, "hashed character n-gram rows added to each token's embedding (word level: the "
        "word's 3- to 5-grams; char level: the 2- to 5-grams ending at the character; 0: off; "
        "default: the task's choice)", lo=0, hi=2**24,
    )  # fmt: skip

    ngram_bag: bool | None = setting(
        None, "also give the output layer the mean of the text's n-gram vectors (fastText's "
        "document vector) beside the pooled encoder (needs ngram_buckets; default: the "
        "task's choice)",
    )  # fmt: skip

    def check(self) -> None:
        if self.ngram_bag and self.ngram_buckets == 0:  # None: the task settles it later
            raise RnnkitError("ngram_bag needs ngram_buckets above 0")
        if self.vocab_size > 0 and self.input_size > 0:
            raise RnnkitError("a classifier takes either token ids or feature vectors, not both")
        if self.ngram_buckets and self.input_size > 0:
            raise RnnkitError("ngram_buckets needs text tokens; feature sequences have none")


class SequenceClassifier(TaskModel):
    """logits (B, C) for a batch of variable-length sequences."""

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        c = self.config = config.validate()
        if not (c.vocab_size or c.input_size):
            raise RnnkitError("a classifier needs vocab_size (token ids) or input_size (features)")
        self.embed = nn.Embedding(c.vocab_size, c.embed_dim) if c.vocab_size else None
        # None: a config from before n-grams existed, read as off
        self.ngrams = (
            nn.EmbeddingBag(c.ngram_buckets + 1, c.embed_dim, mode="mean", padding_idx=0)
            if c.ngram_buckets
            else None
        )
        feat = c.embed_dim if c.vocab_size else c.input_size
        self.rnn = make_recurrent(
            c.cell, feat, c.hidden_size, num_layers=c.num_layers, dropout=c.dropout,
            backend=c.backend, bidirectional=c.bidirectional,
        )  # fmt: skip
        width = c.hidden_size * (2 if c.bidirectional else 1) + (c.embed_dim if c.ngram_bag else 0)
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(width, c.num_classes)

    def inputs(self, x: Tensor, ngrams: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """What the encoder reads, before dropout: (B, T, F). ``ngrams`` (with
        ``ngram_buckets``): (index (B, T) into table, table (U, K) of bucket rows), as
        ``NgramHasher.batch`` makes them; table row 0 and padding buckets (0) add nothing."""
        if self.embed is None:
            return x
        feats = self.embed(x)  # (B, T, E)
        if self.ngrams is not None:
            feats = feats + self.ngram_vectors(ngrams)  # (B, T, E)
        return feats

    def ngram_vectors(self, ngrams: tuple[Tensor, Tensor] | None) -> Tensor:
        """Each step's mean n-gram vector (B, T, E); zero at padding and silenced steps."""
        if ngrams is None:
            raise RnnkitError("this classifier adds character n-grams: pass ngrams")
        index, table = ngrams
        return self.ngrams(table)[index]  # (U, E) gathered to (B, T, E)

    def encode(
        self, x: Tensor, lengths: Tensor, ngrams: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        """The encoder alone: outputs (B, T, D*H), zero past each row's length, and the final
        hidden state (L*D, B, H); the language model of pretraining reads the same."""
        feats = self.inputs(x, ngrams)  # (B, T, F)
        if self.embed is not None:
            feats = self.drop(feats)
        return encode_packed(self.rnn, feats, lengths)  # (B, T, D*H), (L*D, B, H)

    def forward(
        self, x: Tensor, lengths: Tensor, ngrams: tuple[Tensor, Tensor] | None = None
    ) -> Tensor:
        """x: (B, T) int64 ids or (B, T, F) floats; lengths (B,); ngrams: see ``inputs``
        -> logits (B, C)."""
        out, h_n = self.encode(x, lengths, ngrams)  # (B, T, D*H), (L*D, B, H)
        if self.config.pool == "last":
            dirs = 2 if self.config.bidirectional else 1
            pooled = torch.cat(list(h_n[-dirs:]), dim=-1)  # (B, D*H)
        else:
            mask = step_mask(lengths.to(out.device), out.shape[1])[..., None]  # (B, T, 1)
            if self.config.pool == "mean":
                pooled = (out * mask).sum(1) / lengths.to(out)[:, None]  # (B, D*H)
            else:
                pooled = out.masked_fill(~mask, float("-inf")).amax(1)  # (B, D*H)
        if self.config.ngram_bag:
            pooled = torch.cat([pooled, self.bag(lengths.to(out.device), ngrams)], -1)
        return self.head(self.drop(pooled))  # (B, C)

    def bag(self, lengths: Tensor, ngrams: tuple[Tensor, Tensor] | None) -> Tensor:
        """The text's n-gram vectors averaged over its steps (B, E): a linear classifier on
        it is fastText's, the bag-of-n-grams model TF-IDF + LR is a cousin of."""
        vectors = self.ngram_vectors(ngrams)  # (B, T, E), zero past each row's length
        return vectors.sum(1) / lengths.clamp(min=1).to(vectors)[:, None]  # (B, E)
