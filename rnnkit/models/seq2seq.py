"""Encoder-decoder with attention on rnnkit's recurrent layers (Bahdanau et al. 2015; Luong et
al. 2015), decoded step by step.

Symbols: B batch, S source steps, T target steps, E embedding size, H hidden size, D encoder
directions (1 or 2), L layers, V target vocabulary, A the attentional vector's size (E when the
decoder embeddings are tied, else H).

Encoder (stacked, optionally bidirectional, over packed input: padding is never computed)::

    h_j = BiRNN(E_src x)_j                        keys: (B, S, D*H), zero past each row's length

Bridge (the "encoded initial state"): the top encoder layer's final state, both directions,
mapped to every decoder layer's initial state (h and, for LSTM, c)::

    s_0^l = tanh(W_b^l [h_fwd_final ; h_bwd_final] + b_b^l)       (B, H) for each l < L

Decoder step t, with input feeding (the previous attentional vector enters with the word)::

    s_t      = RNN([E_tgt y_{t-1} ; a~_{t-1}], s_{t-1})          (B, H), top layer
    score_tj = v^T tanh(W_q s_t + W_k h_j)       additive (Bahdanau)
             = s_t^T W h_j                       general (Luong)
    alpha_t  = softmax_j(score_tj), padded j set to -inf first     (B, S)
    c_t      = sum_j alpha_tj h_j                                  (B, D*H)
    a~_t     = tanh(W_c [s_t ; c_t])   (attention none: tanh(W_c s_t))     (B, A)
    p(y_t)   = softmax(W_o a~_t + b_o)            W_o = E_tgt when tied     (B, V)

Target ids follow ``PAD``, ``BOS``, ``EOS`` below (the task's vocabulary puts them there).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
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

UNK, PAD, BOS, EOS = 0, 1, 2, 3  # ids every seq2seq vocabulary starts with
SPECIALS = ("<unk>", "<pad>", "<s>", "</s>")
ATTENTIONS = ("none", "additive", "general")


@dataclass(kw_only=True)
class Seq2SeqConfig(RecurrentSettings):
    """Everything needed to rebuild a Seq2Seq."""

    cell: str = setting("lstm", "recurrent cell", choices=PACKED_CELLS)
    src_vocab_size: int = setting(5, "source vocabulary (from the data)", lo=5, hi=10**7, cli=False)
    tgt_vocab_size: int = setting(5, "target vocabulary (from the data)", lo=5, hi=10**7, cli=False)
    embed_dim: int = setting(128, "word embedding size", lo=1, hi=16384, aliases=("--embed",))
    attention: str = setting("general", "attention over the source", choices=ATTENTIONS)
    bidirectional: bool = setting(True, "read the source both ways")
    tie_embeddings: bool = setting(False, "share the decoder's input and output embeddings")
    label_smoothing: float = setting(0.1, "label smoothing of the loss", lo=0, hi=0.99)


class Attention(nn.Module):
    """Context and weights for queries (B, Q) over keys (B, S, K), padding masked (see module
    docstring for the additive and general scores)."""

    def __init__(self, kind: str, query_size: int, key_size: int):
        super().__init__()
        if kind not in ("additive", "general"):
            raise RnnkitError(f"attention must be additive or general, got {kind!r}")
        self.kind = kind
        if kind == "additive":
            self.w_q = nn.Linear(query_size, query_size, bias=False)
            self.w_k = nn.Linear(key_size, query_size)
            self.v = nn.Linear(query_size, 1, bias=False)
        else:
            self.w = nn.Linear(key_size, query_size, bias=False)

    def project(self, keys: Tensor) -> Tensor:
        """The keys' side of the score (W_k h_j + b additive, W h_j general), (B, S, Q): it does
        not change while decoding one source, so it is computed once per source."""
        return self.w_k(keys) if self.kind == "additive" else self.w(keys)

    def forward(
        self, query: Tensor, keys: Tensor, mask: Tensor, projected: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """query (B, Q), keys (B, S, K), mask (B, S) True at real steps, and optionally
        ``project(keys)`` -> context (B, K), weights (B, S)."""
        pk = self.project(keys) if projected is None else projected  # (B, S, Q)
        if self.kind == "additive":
            e = torch.tanh(self.w_q(query)[:, None, :] + pk)  # (B, S, Q)
            score = self.v(e).squeeze(-1)  # (B, S)
        else:
            score = torch.einsum("bq,bsq->bs", query, pk)  # (B, S)
        weights = score.masked_fill(~mask, float("-inf")).softmax(-1)  # (B, S)
        return torch.einsum("bs,bsk->bk", weights, keys), weights


@dataclass
class DecodeState:
    """What one decoder step needs; every tensor has the batch on its first (state: second)
    dimension, so a beam reorders it with ``select``."""

    state: Tensor | tuple[Tensor, Tensor]  # (L, B, H), or (h, c) for LSTM
    feed: Tensor  # (B, A): the previous attentional vector
    keys: Tensor  # (B, S, D*H)
    mask: Tensor  # (B, S) bool
    projected: Tensor | None  # (B, S, H): Attention.project(keys), None without attention

    def select(self, index: Tensor) -> DecodeState:
        st = self.state
        st = tuple(s[:, index] for s in st) if isinstance(st, tuple) else st[:, index]
        pk = None if self.projected is None else self.projected[index]
        return replace(self, state=st, feed=self.feed[index], keys=self.keys[index],
                       mask=self.mask[index], projected=pk)  # fmt: skip


class Seq2Seq(TaskModel):
    """``forward(src, lengths, tgt_in) -> logits`` (teacher forcing); ``start`` and ``step``
    for the decoders in ``rnnkit.models.decoding``."""

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        c = self.config = config.validate()
        D = 2 if c.bidirectional else 1
        self.src_embed = nn.Embedding(c.src_vocab_size, c.embed_dim, padding_idx=PAD)
        self.tgt_embed = nn.Embedding(c.tgt_vocab_size, c.embed_dim, padding_idx=PAD)
        common = dict(dropout=c.dropout, backend=c.backend)
        self.encoder = make_recurrent(
            c.cell, c.embed_dim, c.hidden_size, c.num_layers, bidirectional=c.bidirectional,
            **common,
        )  # fmt: skip
        self.n_states = 2 if c.cell == "lstm" else 1
        self.bridge = nn.Linear(D * c.hidden_size, self.n_states * c.num_layers * c.hidden_size)
        A = self.feed_size = c.embed_dim if c.tie_embeddings else c.hidden_size
        self.decoder = make_recurrent(
            c.cell, c.embed_dim + A, c.hidden_size, c.num_layers, **common
        )
        self.attention = (
            None
            if c.attention == "none"
            else Attention(c.attention, c.hidden_size, D * c.hidden_size)
        )
        ctx = 0 if self.attention is None else D * c.hidden_size
        self.combine = nn.Linear(c.hidden_size + ctx, A)
        self.out = nn.Linear(A, c.tgt_vocab_size)
        if c.tie_embeddings:
            self.out.weight = self.tgt_embed.weight
        self.drop = nn.Dropout(c.dropout)

    def start(self, src: Tensor, lengths: Tensor) -> DecodeState:
        """Encode src (B, S) with per-row lengths (B,) into the decoder's first state."""
        c = self.config
        B, L, H = src.shape[0], c.num_layers, c.hidden_size
        keys, h_n = encode_packed(self.encoder, self.drop(self.src_embed(src)), lengths)
        D = 2 if c.bidirectional else 1
        top = h_n.view(L, D, B, H)[-1].transpose(0, 1).reshape(B, D * H)  # (B, D*H)
        s0 = torch.tanh(self.bridge(top)).view(B, self.n_states, L, H).permute(1, 2, 0, 3)
        state = (s0[0].contiguous(), s0[1].contiguous()) if self.n_states == 2 else s0[0]
        feed = keys.new_zeros(B, self.feed_size)  # (B, A): nothing attended yet
        mask = step_mask(lengths.to(src.device), src.shape[1])  # (B, S)
        projected = None if self.attention is None else self.attention.project(keys)
        return DecodeState(state, feed, keys, mask, projected)

    def advance(self, embedded: Tensor, st: DecodeState) -> tuple[DecodeState, Tensor | None]:
        """The recurrence and attention of one step for embedded previous tokens (B, E): the
        next state (its ``feed`` is the attentional vector a~_t) and the weights (B, S)."""
        x = torch.cat([embedded, st.feed], dim=-1)  # (B, E+A)
        y, state = self.decoder(x[:, None, :], st.state)
        s = y[:, 0]  # (B, H)
        if self.attention is None:
            weights, both = None, s
        else:
            context, weights = self.attention(s, st.keys, st.mask, st.projected)  # (B, D*H)
            both = torch.cat([s, context], dim=-1)  # (B, H + D*H)
        feed = torch.tanh(self.combine(both))  # (B, A)
        return replace(st, state=state, feed=feed), weights

    def step(self, tokens: Tensor, st: DecodeState) -> tuple[Tensor, DecodeState, Tensor | None]:
        """One decoder step for previous tokens (B,): logits (B, V), the next state, and the
        attention weights (B, S) (None without attention)."""
        st, weights = self.advance(self.drop(self.tgt_embed(tokens)), st)
        return self.out(self.drop(st.feed)), st, weights  # logits (B, V)

    def forward(self, src: Tensor, lengths: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher forcing: logits (B, T, V) for target inputs tgt_in (B, T) (BOS, y_1, ...).
        The embedding and the output layer run once over all steps (one large product each,
        not T small ones); only the recurrence and attention go step by step."""
        st = self.start(src, lengths)
        embedded = self.drop(self.tgt_embed(tgt_in))  # (B, T, E)
        feeds = []
        for t in range(tgt_in.shape[1]):
            st, _ = self.advance(embedded[:, t], st)
            feeds.append(st.feed)
        return self.out(self.drop(torch.stack(feeds, dim=1)))  # (B, T, V)


def teacher_forced_loss(
    model: Seq2Seq, src: Tensor, src_lengths: Tensor, tgt: Tensor, tgt_lengths: Tensor
) -> Tensor:
    """Mean cross-entropy of the targets tgt (B, T) (``PAD`` past each row's tgt_lengths) and
    their end tokens, given the sources; label-smoothed by the model's setting while training."""
    B = tgt.shape[0]
    bos = torch.full((B, 1), BOS, device=tgt.device)
    tgt_in = torch.cat([bos, tgt], 1)  # (B, T+1): BOS y_1 ... y_T
    tgt_out = torch.cat([tgt, torch.full_like(bos, PAD)], 1)  # (B, T+1): y_1 ... y_T EOS
    tgt_out[torch.arange(B, device=tgt.device), tgt_lengths.to(tgt.device)] = EOS
    logits = model(src, src_lengths, tgt_in)  # (B, T+1, V)
    config = getattr(model, "module", model).config  # under DDP the model is wrapped
    eps = config.label_smoothing if model.training else 0.0
    return F.cross_entropy(
        logits.flatten(0, 1), tgt_out.flatten(), ignore_index=PAD, label_smoothing=eps
    )
