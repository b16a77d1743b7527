"""Decoding a step model: greedy, sampling (temperature, top-k, top-p) and batched beam search.

A *step model* has ``start(src, lengths) -> state`` and ``step(tokens (N,), state) ->
(logits (N, V), state, attention weights (N, S) or None)``, and its state has
``select(index)`` (rows by index: beams follow their parents). ``Seq2Seq`` is one; the tests
use a hand-set table as another.

Every decoder returns one ``Hypothesis`` per source row: the tokens (without BOS/EOS), the
summed log-probability, the score it was ranked by (beam search: divided by length**alpha) and
the attention weights (T_out, S) for ``plot_attention``. A ``constraint``
(``rnnkit.generate.constraints``) optionally says what each row may emit next, e.g. a
``BagConstraint`` keeps the output a permutation of the input (word reordering). Every draw
goes through ``rnnkit.generate.filters``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from rnnkit.errors import RnnkitError
from rnnkit.generate.constraints import Constraint
from rnnkit.generate.filters import NEG, filter_logits
from rnnkit.generate.sampling import draw


@dataclass
class Hypothesis:
    tokens: list[int]
    logprob: float
    score: float
    attention: Tensor | None  # (T_out, S), one row per emitted token (EOS included)


def _log_probs(logits: Tensor, constraint: Constraint | None) -> Tensor:
    """log softmax of logits (N, V), -inf where ``constraint`` refuses the id."""
    logp = logits.float().log_softmax(-1)
    return logp if constraint is None else filter_logits(logp, allowed=constraint.allowed())


def _collect(tokens: Tensor, logps: Tensor, attn: list, eos: int) -> list[Hypothesis]:
    """Hypotheses from step tokens (N, T) and their log-probs (N, T), cut after the first EOS."""
    out = []
    for r in range(tokens.shape[0]):
        row = tokens[r].tolist()
        n = row.index(eos) + 1 if eos in row else len(row)
        lp = float(logps[r, :n].sum())
        weights = torch.stack([a[r] for a in attn[:n]]) if attn and attn[0] is not None else None
        out.append(Hypothesis([t for t in row[:n] if t != eos], lp, lp, weights))
    return out


@torch.no_grad()
def greedy(model: Any, src: Tensor, lengths: Tensor, bos: int, eos: int, max_len: int,
           constraint: Constraint | None = None) -> list[Hypothesis]:  # fmt: skip
    """The most probable token at every step, until EOS or ``max_len`` tokens."""
    return sample(model, src, lengths, bos, eos, max_len, temperature=0.0, constraint=constraint)


@torch.no_grad()
def sample(
    model: Any,
    src: Tensor,
    lengths: Tensor,
    bos: int,
    eos: int,
    max_len: int,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    constraint: Constraint | None = None,
    generator: torch.Generator | None = None,
) -> list[Hypothesis]:
    """Sample each token from softmax(log p / temperature), kept to the ``top_k`` most probable
    (0: all) and to the smallest set whose probability reaches ``top_p``; temperature 0 is
    greedy. The log-probabilities reported are the model's own (before temperature)."""
    if temperature < 0 or top_k < 0 or not 0 < top_p <= 1 or max_len < 1:
        raise RnnkitError("need temperature >= 0, top_k >= 0, 0 < top_p <= 1, max_len >= 1")
    st = model.start(src, lengths)
    N = src.shape[0]
    prev = torch.full((N,), bos, dtype=torch.long, device=src.device)
    done = torch.zeros(N, dtype=torch.bool, device=src.device)
    toks, lps, attn = [], [], []
    for _ in range(max_len):
        logits, st, weights = model.step(prev, st)
        logp = _log_probs(logits, constraint)  # (N, V)
        nxt = draw(logp, temperature, top_k, top_p, generator=generator)  # (N,)
        nxt = nxt.masked_fill(done, eos)
        toks.append(nxt)
        lps.append(logp.gather(1, nxt[:, None])[:, 0].masked_fill(done, 0.0))
        attn.append(None if weights is None else weights.float().cpu())
        if constraint is not None:
            constraint = constraint.advance(nxt)  # finished rows keep taking EOS
        done |= nxt == eos
        prev = nxt
        if bool(done.all()):
            break
    return _collect(torch.stack(toks, 1).cpu(), torch.stack(lps, 1).cpu(), attn, eos)


@torch.no_grad()
def beam_search(
    model: Any,
    src: Tensor,
    lengths: Tensor,
    bos: int,
    eos: int,
    max_len: int,
    beam: int = 5,
    alpha: float = 1.0,
    constraint: Constraint | None = None,
) -> list[Hypothesis]:
    """Batched beam search: every source row keeps ``beam`` live prefixes, all rows and beams
    in one model call per step. A prefix that ends (EOS, or ``max_len`` tokens) is finished
    with score logprob / length**alpha (length counts EOS; alpha 0: the plain log-probability);
    a row stops once it has ``beam`` finished hypotheses, and returns the best-scored one."""
    if beam < 1 or max_len < 1 or alpha < 0:
        raise RnnkitError("need beam >= 1, max_len >= 1 and alpha >= 0")
    B, K = src.shape[0], beam
    rows = torch.arange(B, device=src.device).repeat_interleave(K)  # (B*K,)
    st = model.start(src, lengths).select(rows)
    constraint = None if constraint is None else constraint.select(rows)  # B*K rows
    prev = torch.full((B * K,), bos, dtype=torch.long, device=src.device)
    score = torch.full((B, K), NEG, device=src.device)
    score[:, 0] = 0.0  # one live prefix per row at the start (the others are copies)
    hist = torch.empty(B * K, 0, dtype=torch.long)  # tokens so far (B*K, t), on the CPU
    attn_hist: list[Tensor] = []  # per step (B*K, S), rows in the current beam order
    finished: list[list[Hypothesis]] = [[] for _ in range(B)]
    for t in range(max_len):
        logits, st, weights = model.step(prev, st)
        logp = _log_probs(logits, constraint)  # (B*K, V)
        V = logp.shape[-1]
        cand = (score.view(B * K, 1) + logp).view(B, K * V)  # (B, K*V)
        top, idx = cand.topk(min(2 * K, K * V), dim=-1)  # (B, 2K): enough to refill K beams
        top, idx = top.cpu(), idx.cpu()
        w = None if weights is None else weights.float().cpu()
        parents, tokens, new_score = [], [], torch.full((B, K), NEG)
        for b in range(B):
            kept = 0
            for s, i in zip(top[b].tolist(), idx[b].tolist(), strict=True):
                if s == NEG or len(finished[b]) >= K or kept == K:
                    break  # an EOS ranked below K live prefixes does not finish (fairseq)
                parent, tok = b * K + i // V, i % V
                if tok == eos or t == max_len - 1:
                    toks = hist[parent].tolist() + ([] if tok == eos else [tok])
                    length = len(toks) + (tok == eos)
                    steps = None  # its own row of each step: stacking all rows costs O(K^2)
                    if w is not None:
                        steps = torch.stack([*(a[parent] for a in attn_hist), w[parent]])
                    finished[b].append(Hypothesis(toks, s, s / length**alpha, steps))
                else:
                    parents.append(parent)
                    tokens.append(tok)
                    new_score[b, kept] = s
                    kept += 1
            for _ in range(kept, K):  # dead slots: a copy of any prefix, scored -inf
                parents.append(b * K)
                tokens.append(eos)
        if all(len(f) >= K for f in finished) or t == max_len - 1:
            break
        index = torch.tensor(parents)
        hist = torch.cat([hist[index], torch.tensor(tokens)[:, None]], dim=1)
        if w is not None:
            attn_hist = [a[index] for a in attn_hist] + [w[index]]
        index_dev = index.to(src.device)
        st = st.select(index_dev)
        prev = torch.tensor(tokens, device=src.device)
        score = new_score.to(src.device)
        if constraint is not None:
            constraint = constraint.select(index_dev).advance(prev)
    return [max(f, key=lambda h: h.score) for f in finished]
