"""The attentional decoder every text-writing model shares: translation, summarization and
dialogue (``Seq2Seq``), and captioning (an image encoder in front of the same decoder).

An encoder hands the decoder two things: a *summary* of the whole input (B, K0) (a text
encoder's final states; an image encoder's pooled features) and *keys* (B, S, K) to attend over
(a text encoder's outputs per token; an image encoder's spatial grid), with a mask (B, S).

Symbols: B batch, S key positions, T target steps, E embedding size, H hidden size, L layers,
V vocabulary, A the attentional vector's size (E when the embeddings are tied, else H).

Bridge (the "encoded initial state"): the summary mapped to every layer's initial state::

    s_0^l = tanh(W_b^l summary + b_b^l)                            (B, H) for each l < L

Step t. Without input feeding (Luong et al. 2015's global attention, the default) the
recurrence reads only the words, so teacher forcing runs it over the whole target in one layer
call and attends for every step in one batched product; with input feeding (``input_feed``)
the previous attentional vector enters with the word, so every step waits for the last::

    s_t      = RNN(E y_{t-1}, s_{t-1})                             (B, H), top layer
             = RNN([E y_{t-1} ; a~_{t-1}], s_{t-1})                with input feeding
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
either without knowing which. Only the S source ids of a row get copied mass, so the mixture
is computed in log space with one pass over the vocabulary and a fix at those ids::

    log p(y_t=w) = log g_t + log_softmax(W_o a~_t + b_o)_w                     w not in x
    log p(y_t=w) = logaddexp(that, log(1 - g_t) + log sum_{j: x_j = w} alpha_tj)    w in x
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.errors import RnnkitError
from rnnkit.models.recurrent import make_recurrent

ATTENTIONS = ("none", "additive", "general")
TINY = 1e-30  # floor under copied attention before its log (ids no row attends to)


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
        """query (B, Q) or (B, T, Q) (every step's at once), keys (B, S, K), mask (B, S) True
        at real positions, and optionally ``project(keys)`` -> context (B, K) or (B, T, K),
        weights (B, S) or (B, T, S)."""
        one = query.dim() == 2
        q = query[:, None, :] if one else query  # (B, T, Q)
        pk = self.project(keys) if projected is None else projected  # (B, S, Q)
        if self.kind == "additive":
            e = torch.tanh(self.w_q(q)[:, :, None, :] + pk[:, None])  # (B, T, S, Q)
            score = self.v(e).squeeze(-1)  # (B, T, S)
        else:
            score = torch.bmm(q, pk.transpose(1, 2))  # (B, T, S)
        weights = score.masked_fill(~mask[:, None, :], float("-inf")).softmax(-1)  # (B, T, S)
        context = torch.bmm(weights, keys)  # (B, T, K)
        return (context[:, 0], weights[:, 0]) if one else (context, weights)


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
        input_feed: bool = False,
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
        self.num_layers, self.hidden_size, self.input_feed = num_layers, hidden_size, input_feed
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
        self.n_states = 2 if cell == "lstm" else 1
        self.bridge = nn.Linear(summary_size, self.n_states * num_layers * hidden_size)
        A = self.feed_size = embed_dim if tie_embeddings else hidden_size
        self.rnn = make_recurrent(
            cell, embed_dim + (A if input_feed else 0), hidden_size, num_layers, dropout=dropout,
            backend=backend,
        )  # fmt: skip
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

    def attend(
        self, s: Tensor, embedded: Tensor, st: DecodeState
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """Attentional vectors a~ (..., A), weights (..., S) and the copy gate's input from
        top-layer states s (..., H) and the embedded previous tokens (..., E), where ... is (B,)
        for one step or (B, T) for all of them."""
        if self.attention is None:
            weights, context, both = None, None, s
        else:
            context, weights = self.attention(s, st.keys, st.mask, st.projected)  # (..., K)
            both = torch.cat([s, context], dim=-1)  # (..., H + K)
        feed = torch.tanh(self.combine(both))  # (..., A)
        gate_input = None if self.gate is None else torch.cat([feed, context, embedded], -1)
        return feed, weights, gate_input

    def advance(self, embedded: Tensor, st: DecodeState) -> StepOut:
        """The recurrence and attention of one step for embedded previous tokens (B, E)."""
        x = torch.cat([embedded, st.feed], dim=-1) if self.input_feed else embedded  # (B, E[+A])
        y, state = self.rnn(x[:, None, :], st.state)
        feed, weights, gate_input = self.attend(y[:, 0], embedded, st)  # (B, A)
        return StepOut(replace(st, state=state, feed=feed), weights, gate_input)

    def output(
        self, feed: Tensor, weights: Tensor | None, gate_input: Tensor | None,
        copy_ids: Tensor | None, positions: Tensor | None = None,
    ) -> Tensor:  # fmt: skip
        """Logits (..., V) from attentional vectors feed (..., A); with copy attention the
        log-probabilities of the gated mixture, from weights (..., S), the gate's input and
        copy_ids (B, S). The leading dimensions ... are (B,) or (B, T); with ``positions``
        (B, T) bool, only its N true positions are computed and ... is (N,)."""
        chosen = feed if positions is None else feed[positions]  # (..., A)
        logits = self.out(self.drop(chosen))  # (..., V)
        if self.gate is None:
            return logits
        one = weights.dim() == 2
        w = weights[:, None, :] if one else weights  # (B, T, S)
        gate = self.gate(gate_input[:, None, :] if one else gate_input)  # (B, T, 1)
        same = (copy_ids[:, :, None] == copy_ids[:, None, :]).to(w.dtype)  # (B, S, S)
        copied = torch.bmm(w, same)  # (B, T, S): attention on every position with x_j's id
        # a repeated id's gradient flows through its first position only (not once per position)
        S = copy_ids.shape[1]
        earlier = torch.ones(S, S, dtype=torch.bool, device=w.device).tril(-1)  # j' < j
        first = ~((same > 0) & earlier).any(-1)  # (B, S)
        ids, first = copy_ids[:, None, :].expand_as(w), first[:, None, :].expand_as(w)
        parts = (gate, copied, ids, first)  # each (B, T, ...)
        if positions is not None:
            gate, copied, ids, first = (x[positions] for x in parts)  # each (N, ...)
        elif one:
            gate, copied, ids, first = (x[:, 0] for x in parts)  # each (B, ...)
        generated = logits.log_softmax(-1) + F.logsigmoid(gate)  # (..., V): log g p_vocab
        before = generated.gather(-1, ids)  # (..., S)
        at_ids = torch.logaddexp(before, F.logsigmoid(-gate) + copied.clamp_min(TINY).log())
        at_ids = torch.where(first, at_ids, at_ids.detach())
        return generated.scatter(-1, ids, at_ids)  # (..., V); a repeated id: equal values

    def step(self, tokens: Tensor, st: DecodeState) -> tuple[Tensor, DecodeState, Tensor | None]:
        """One step for previous tokens (B,): logits (B, V) (log-probabilities with copy), the
        next state, and the attention weights (B, S) (None without attention)."""
        o = self.advance(self.drop(self.embed(tokens)), st)
        return self.output(o.state.feed, o.weights, o.gate_input, st.copy_ids), o.state, o.weights

    def forward(self, st: DecodeState, tgt_in: Tensor, positions: Tensor | None = None) -> Tensor:
        """Teacher forcing: logits (B, T, V) for target inputs tgt_in (B, T) (BOS, y_1, ...)
        from the first state; with ``positions`` (B, T) bool, the logits (N, V) of its N true
        positions only, in row-major order. The loss passes its real (non-padding) targets
        there: the output layer and its softmax over V are the largest cost of a step, and
        padding is often a third or more of a batch's target positions.

        The embedding and the output layer run once over all steps (one large product each, not
        T small ones). Without input feeding the recurrence and the attention do too; with it
        they go step by step."""
        embedded = self.drop(self.embed(tgt_in))  # (B, T, E)
        if not self.input_feed:
            y, _ = self.rnn(embedded, st.state)  # (B, T, H): one layer call for every step
            feeds, weights, gate_input = self.attend(y, embedded, st)  # (B, T, A)
        else:
            outs = []
            for t in range(tgt_in.shape[1]):
                o = self.advance(embedded[:, t], st)
                st = o.state
                outs.append(o)
            feeds = torch.stack([o.state.feed for o in outs], dim=1)  # (B, T, A)
            weights = gate_input = None
            if self.gate is not None:
                weights = torch.stack([o.weights for o in outs], dim=1)  # (B, T, S)
                gate_input = torch.stack([o.gate_input for o in outs], dim=1)  # (B, T, A+K+E)
        return self.output(feeds, weights, gate_input, st.copy_ids, positions)
