"""The attentional decoder every text-writing model shares: translation, summarization and
dialogue (``Seq2Seq``), and captioning (an image encoder in front of the same decoder).

An encoder hands the decoder two things: a *summary* of the whole input (B, K0) (a text
encoder's final states; an image encoder's pooled features) and *keys* (B, S, K) to attend over
(a text encoder's outputs per token; an image encoder's spatial grid), with a mask (B, S).

Symbols: B batch, S key positions, T target steps, E embedding size, H hidden size, L layers,
V vocabulary, A the attentional vector's size (E when the embeddings are tied, else H).

Bridge (the "encoded initial state"): the summary mapped to every layer's initial state::

    s_0^l = tanh(W_b^l summary + b_b^l)                            (B, H) for each l < L

Step t, with input feeding (the previous attentional vector enters with the word)::

    s_t      = RNN([E y_{t-1} ; a~_{t-1}], s_{t-1})                (B, H), top layer
    score_tj = v^T tanh(W_q s_t + W_k h_j)       additive (Bahdanau et al. 2015)
             = s_t^T W h_j                       general (Luong et al. 2015)
    alpha_t  = softmax_j(score_tj), masked j set to -inf first     (B, S)
    c_t      = sum_j alpha_tj h_j                                  (B, K)
    a~_t     = tanh(W_c [s_t ; c_t])   (attention none: tanh(W_c s_t))     (B, A)
    p(y_t)   = softmax(W_o a~_t + b_o)            W_o = E when tied      (B, V)

Copy attention (pointer-generator, See et al. 2017), when on: the attention weights double as
a distribution over the source's tokens, and a learned gate mixes the two::

    g_t      = sigmoid(w_g [a~_t ; c_t ; E y_{t-1}] + b_g)                  (B, 1)
    p(y_t=w) = g_t softmax(W_o a~_t + b_o)_w + (1 - g_t) sum_{j: x_j = w} alpha_tj

The decoder then returns log-probabilities in place of logits: ``log_softmax`` leaves them
unchanged, so the decoders in ``rnnkit.generate.search`` and the cross-entropy loss take
either without knowing which.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from rnnkit.errors import RnnkitError
from rnnkit.models.recurrent import make_recurrent

ATTENTIONS = ("none", "additive", "general")
TINY = 1e-12  # floor under a mixed probability before its log (a word neither way can reach)


class Attention(nn.Module):
    """Context and weights for queries (B, Q) over keys (B, S, K), masked positions excluded
    (see the module docstring for the additive and general scores)."""

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
        not change while decoding one input, so it is computed once per input."""
        return self.w_k(keys) if self.kind == "additive" else self.w(keys)

    def forward(
        self, query: Tensor, keys: Tensor, mask: Tensor, projected: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """query (B, Q), keys (B, S, K), mask (B, S) True at real positions, and optionally
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
    keys: Tensor  # (B, S, K)
    mask: Tensor  # (B, S) bool
    projected: Tensor | None  # (B, S, H): Attention.project(keys), None without attention
    copy_ids: Tensor | None = None  # (B, S): output ids the keys stand for (copy attention)

    def select(self, index: Tensor) -> DecodeState:
        st = self.state
        st = tuple(s[:, index] for s in st) if isinstance(st, tuple) else st[:, index]

        def rows(t: Tensor | None) -> Tensor | None:
            return None if t is None else t[index]

        return replace(self, state=st, feed=self.feed[index], keys=self.keys[index],
                       mask=self.mask[index], projected=rows(self.projected),
                       copy_ids=rows(self.copy_ids))  # fmt: skip


@dataclass
class StepOut:
    """One step's results before the output layer: the next state, the attention weights
    (B, S) (None without attention) and the copy gate's input (B, A+K+E) (None without copy)."""

    state: DecodeState
    weights: Tensor | None
    gate_input: Tensor | None


class AttentionDecoder(nn.Module):
    """``begin(summary, keys, mask)`` -> the first ``DecodeState``; ``step`` one token at a time
    (for the decoders in ``rnnkit.generate.search``); ``forward`` all target steps at once
    (teacher forcing). See the module docstring for the equations."""

    def __init__(
        self,
        *,
        cell: str,
        vocab_size: int,
        embed_dim: int,
        hidden_size: int,
        num_layers: int,
        key_size: int,
        summary_size: int,
        attention: str = "general",
        tie_embeddings: bool = False,
        copy: bool = False,
        dropout: float = 0.0,
        backend: str = "rnnkit",
        padding_idx: int | None = None,
    ):
        super().__init__()
        if attention not in ATTENTIONS:
            raise RnnkitError(f"attention must be one of {', '.join(ATTENTIONS)}: {attention!r}")
        if copy and attention == "none":
            raise RnnkitError("copy attention copies what the decoder attends to: it needs "
                              "attention additive or general")  # fmt: skip
        self.num_layers, self.hidden_size = num_layers, hidden_size
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
        self.n_states = 2 if cell == "lstm" else 1
        self.bridge = nn.Linear(summary_size, self.n_states * num_layers * hidden_size)
        A = self.feed_size = embed_dim if tie_embeddings else hidden_size
        self.rnn = make_recurrent(
            cell, embed_dim + A, hidden_size, num_layers, dropout=dropout, backend=backend
        )
        self.attention = (
            None if attention == "none" else Attention(attention, hidden_size, key_size)
        )
        ctx = 0 if self.attention is None else key_size
        self.combine = nn.Linear(hidden_size + ctx, A)
        self.out = nn.Linear(A, vocab_size)
        if tie_embeddings:
            self.out.weight = self.embed.weight
        self.gate = nn.Linear(A + key_size + embed_dim, 1) if copy else None
        self.drop = nn.Dropout(dropout)

    def begin(
        self, summary: Tensor, keys: Tensor, mask: Tensor, copy_ids: Tensor | None = None
    ) -> DecodeState:
        """The first state from the encoder's summary (B, K0), keys (B, S, K), mask (B, S) and,
        with copy attention, the output id each key position stands for (B, S)."""
        if self.gate is not None and copy_ids is None:
            raise RnnkitError("a copying decoder needs the output ids of its source positions")
        B, L, H = summary.shape[0], self.num_layers, self.hidden_size
        s0 = torch.tanh(self.bridge(summary)).view(B, self.n_states, L, H).permute(1, 2, 0, 3)
        state = (s0[0].contiguous(), s0[1].contiguous()) if self.n_states == 2 else s0[0]
        feed = keys.new_zeros(B, self.feed_size)  # (B, A): nothing attended yet
        projected = None if self.attention is None else self.attention.project(keys)
        return DecodeState(state, feed, keys, mask, projected, copy_ids)

    def advance(self, embedded: Tensor, st: DecodeState) -> StepOut:
        """The recurrence and attention of one step for embedded previous tokens (B, E)."""
        x = torch.cat([embedded, st.feed], dim=-1)  # (B, E+A)
        y, state = self.rnn(x[:, None, :], st.state)
        s = y[:, 0]  # (B, H)
        if self.attention is None:
            weights, context, both = None, None, s
        else:
            context, weights = self.attention(s, st.keys, st.mask, st.projected)  # (B, K)
            both = torch.cat([s, context], dim=-1)  # (B, H + K)
        feed = torch.tanh(self.combine(both))  # (B, A)
        gate_input = None if self.gate is None else torch.cat([feed, context, embedded], -1)
        return StepOut(replace(st, state=state, feed=feed), weights, gate_input)

    def output(
        self, feed: Tensor, weights: Tensor | None, gate_input: Tensor | None,
        copy_ids: Tensor | None,
    ) -> Tensor:  # fmt: skip
        """Logits (..., V) from attentional vectors feed (..., A); with copy attention the
        log-probabilities of the gated mixture, from weights (..., S), the gate's input and
        copy_ids (B, S) (the leading dimensions are (B,) or (B, T))."""
        logits = self.out(self.drop(feed))  # (..., V)
        if self.gate is None:
            return logits
        g = torch.sigmoid(self.gate(gate_input))  # (..., 1)
        ids = copy_ids if weights.dim() == 2 else copy_ids[:, None, :].expand_as(weights)
        copied = torch.zeros_like(logits).scatter_add(-1, ids, weights)  # (..., V)
        mixed = g * logits.softmax(-1) + (1 - g) * copied
        return mixed.clamp_min(TINY).log()

    def step(self, tokens: Tensor, st: DecodeState) -> tuple[Tensor, DecodeState, Tensor | None]:
        """One step for previous tokens (B,): logits (B, V) (log-probabilities with copy), the
        next state, and the attention weights (B, S) (None without attention)."""
        o = self.advance(self.drop(self.embed(tokens)), st)
        return self.output(o.state.feed, o.weights, o.gate_input, st.copy_ids), o.state, o.weights

    def forward(self, st: DecodeState, tgt_in: Tensor) -> Tensor:
        """Teacher forcing: logits (B, T, V) for target inputs tgt_in (B, T) (BOS, y_1, ...)
        from the first state. The embedding and the output layer run once over all steps (one
        large product each, not T small ones); only the recurrence and attention go step by
        step."""
        embedded = self.drop(self.embed(tgt_in))  # (B, T, E)
        copy_ids = st.copy_ids
        outs = []
        for t in range(tgt_in.shape[1]):
            o = self.advance(embedded[:, t], st)
            st = o.state
            outs.append(o)
        feeds = torch.stack([o.state.feed for o in outs], dim=1)  # (B, T, A)
        if self.gate is None:
            return self.output(feeds, None, None, None)
        weights = torch.stack([o.weights for o in outs], dim=1)  # (B, T, S)
        gate_input = torch.stack([o.gate_input for o in outs], dim=1)  # (B, T, A+K+E)
        return self.output(feeds, weights, gate_input, copy_ids)
