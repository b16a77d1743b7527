r"""Decoding CTC outputs: log-probabilities (T', V) per model frame in, a transcript out.

Decoding. Greedy: the most probable symbol per frame, then B. Prefix beam search (Hannun et al.
2014) keeps, for each candidate prefix l, the probability of all alignments of the frames so
far that collapse to l, split by whether they end in a blank (p_b) or not (p_nb)::

    extend l by c (c != last(l)):  p_nb(l+c) += (p_b(l) + p_nb(l)) p(c|t)
    extend l by c (c == last(l)):  p_nb(l+c) += p_b(l) p(c|t),   p_nb(l) += p_nb(l) p(c|t)
    blank:                         p_b(l)    += (p_b(l) + p_nb(l)) p(blank|t)

and keeps the ``beam`` best prefixes per frame. With a character language model (shallow
fusion) a prefix is ranked by

    log p_ctc(l | x) + lambda log p_lm(l) + beta |l|

where log p_lm(l) sums the LM's log-probability of each character given the ones before it (and
of the end of line after the last one, at the end), lambda is ``lm_weight`` and beta the
per-character ``length_bonus`` that offsets the LM's pull towards short outputs.

Alignment: where a decoded transcript sits in the frames. ``ctc_path`` is the Viterbi path of
the transcript through the CTC trellis, ``ctc_spans`` the frames each of its symbols holds on
that path (``ctc_align``: the first of them); ``frame_runs`` the most probable symbol per frame,
as runs, whatever the transcript.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnnkit.errors import RnnkitError
from rnnkit.models.acoustic import BLANK, fits


@dataclass
class Hypothesis:
    """A decoded transcript: symbol ids (no blanks) and the score it was ranked by
    (log-probability, plus the LM terms when fused). ``ctc_align`` says where each fires."""

    ids: list[int]
    score: float


def greedy_decode(log_probs: Tensor, length: int | None = None) -> Hypothesis:
    """Best symbol per frame of ``log_probs`` (T', V), repeats merged, blanks dropped."""
    lp = log_probs[: length if length is not None else log_probs.shape[0]]
    best = lp.argmax(-1).tolist()
    ids, prev = [], BLANK
    for k in best:
        if k != BLANK and k != prev:
            ids.append(k)
        prev = k
    return Hypothesis(ids, float(lp.max(-1).values.sum()))


def frame_runs(log_probs: Tensor) -> list[tuple[int, int, int]]:
    """The most probable symbol per frame of ``log_probs`` (T', V) as runs: (symbol, first
    frame, last frame) for each stretch of one symbol other than the blank (what greedy
    decoding reads: each run is one symbol of its output, unless it repeats the one before
    with no blank between)."""
    best = log_probs.argmax(-1).tolist()
    runs: list[tuple[int, int, int]] = []
    for t, k in enumerate(best):
        if runs and runs[-1][0] == k and runs[-1][2] == t - 1:
            runs[-1] = (k, runs[-1][1], t)
        elif k != BLANK:
            runs.append((k, t, t))
    return runs


def ctc_path(log_probs: Tensor, ids: Sequence[int]) -> list[int]:
    """The trellis state at each frame (T',) of the most probable alignment of ``ids`` to
    ``log_probs`` (T', V) (Viterbi over the CTC trellis: ``ids`` with a blank before, between
    and after its symbols, state ``2 i + 1`` being symbol ``i`` and the even states blanks; a
    step stays, moves one on, or skips a blank between two different symbols). [] when
    ``ids`` is empty or cannot fit the frames."""
    lp = log_probs.double().cpu().numpy()
    T, L = lp.shape[0], len(ids)
    if L == 0 or not fits(ids, T):
        return []
    ext = np.full(2 * L + 1, BLANK)
    ext[1::2] = ids
    S = len(ext)
    skip = np.zeros(S, dtype=bool)  # s may be reached from s - 2
    skip[3::2] = ext[3::2] != ext[1:-2:2]
    score = np.full(S, -np.inf)
    score[:2] = lp[0, ext[:2]]
    back = np.zeros((T, S), dtype=np.int64)  # (T', S): the state each state came from
    for t in range(1, T):
        stay, step = score, np.concatenate([[-np.inf], score[:-1]])
        jump = np.where(skip, np.concatenate([[-np.inf, -np.inf], score[:-2]]), -np.inf)
        choices = np.stack([stay, step, jump])  # (3, S)
        best = choices.argmax(0)
        back[t] = np.arange(S) - best
        score = choices.max(0) + lp[t, ext]
    s = S - 1 if score[S - 1] >= score[S - 2] else S - 2
    states = [s]
    for t in range(T - 1, 0, -1):
        s = int(back[t, s])
        states.append(s)
    states.reverse()
    return states


def ctc_spans(log_probs: Tensor, ids: Sequence[int]) -> list[tuple[int, int]]:
    """(first, last) frame of each symbol of ``ids`` on its most probable alignment to
    ``log_probs`` (T', V) (``ctc_path``): the frames each output symbol came from. [] when
    ``ids`` cannot fit the frames."""
    spans: dict[int, tuple[int, int]] = {}
    for t, s in enumerate(ctc_path(log_probs, ids)):
        if s % 2 == 1:
            spans[s] = (spans[s][0], t) if s in spans else (t, t)
    return [spans[2 * i + 1] for i in range(len(spans))]


def ctc_align(log_probs: Tensor, ids: Sequence[int]) -> list[int]:
    """The frame at which each symbol of ``ids`` fires on its most probable alignment to
    ``log_probs`` (T', V): the first frame of its span (``ctc_spans``). [] when ``ids`` cannot
    fit the frames."""
    return [first for first, _ in ctc_spans(log_probs, ids)]


class CharLM:
    """What prefix beam search needs from a character language model over the acoustic
    model's symbols: ``start()`` a state, ``step(states, ids)`` the next states and the
    log-probabilities (N, V) of the next symbol for each, and ``end(states)`` (N,) the
    log-probability of ending there. Index 0 (blank) is never scored."""

    def start(self) -> Any:
        raise NotImplementedError

    def next_logp(self, state: Any) -> Tensor:
        raise NotImplementedError

    def advance(self, states: list[Any], ids: list[int]) -> list[Any]:
        raise NotImplementedError

    def end(self, state: Any) -> float:
        return 0.0


class RunLM(CharLM):
    """A character language model (``model(x (N, 1), state) -> (logits (N, 1, V_lm), state)``,
    as ``rnnkit train lm --level char`` trains) and its tokenizer, mapped onto the acoustic
    model's characters ``symbols`` (``symbols[0]`` the blank). Every character of the acoustic
    vocabulary must be in the LM's; decoding starts after a line break (when the LM has one)
    and ends with one."""

    def __init__(self, model: torch.nn.Module, tokenizer: Any, symbols: Sequence[str]):
        if getattr(tokenizer, "level", None) != "char":
            raise RnnkitError("the language model must be a character-level `rnnkit train lm` run")
        missing = [s for s in symbols[1:] if s not in tokenizer.index]
        if missing:
            shown = "".join(missing[:20])
            raise RnnkitError(f"the language model lacks character(s) {shown!r} of the transcripts")
        self.model = model.eval()
        # (V,): the LM id of each acoustic id (the blank's never read)
        self.map = torch.tensor([0] + [tokenizer.index[s] for s in symbols[1:]])
        self.newline = tokenizer.index.get("\n")
        self.device = next(self.model.parameters()).device

    @torch.no_grad()
    def _run(self, lm_ids: list[int], states: list[Any]) -> list[tuple[Tensor, Any]]:
        x = torch.tensor(lm_ids, device=self.device)[:, None]  # (N, 1)
        st = _stack_states(states)
        logits, new = self.model(x, st)  # (N, 1, V_lm)
        logp = logits[:, 0].log_softmax(-1).cpu()  # (N, V_lm)
        return [(logp[i], _pick_state(new, i)) for i in range(len(lm_ids))]

    def start(self) -> Any:
        if self.newline is None:  # no line break to start from: a uniform first character
            V = len(self.map)
            return (torch.full((V,), -math.log(V - 1)), None, None)
        logp, state = self._run([self.newline], [None])[0]
        return (logp[self.map], state, logp)

    def next_logp(self, state: Any) -> Tensor:
        return state[0]

    def advance(self, states: list[Any], ids: list[int]) -> list[Any]:
        out = self._run([int(self.map[i]) for i in ids], [s[1] for s in states])
        return [(logp[self.map], st, logp) for logp, st in out]

    def end(self, state: Any) -> float:
        full = state[2]
        return 0.0 if full is None or self.newline is None else float(full[self.newline])


def _stack_states(states: list[Any]) -> Any:
    """Per-hypothesis recurrent states (each (L, 1, H) or a tuple of them) as one batch; a
    None (the LM's initial state) becomes zeros shaped like the others."""
    known = next((s for s in states if s is not None), None)
    if known is None:
        return None
    zero = tuple(torch.zeros_like(k) for k in known) if isinstance(known, tuple) else None
    states = [s if s is not None else (zero or torch.zeros_like(known)) for s in states]
    if isinstance(states[0], tuple):
        return tuple(torch.cat([s[j] for s in states], 1) for j in range(len(states[0])))
    return torch.cat(states, 1)


def _pick_state(state: Any, i: int) -> Any:
    if isinstance(state, tuple):
        return tuple(s[:, i : i + 1] for s in state)
    return state[:, i : i + 1]


def _logadd(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    m = max(a, b)
    return m + math.log1p(math.exp(-abs(a - b)))


@dataclass
class _Beam:
    p_b: float = -math.inf  # log p of alignments so far collapsing to the prefix, ending blank
    p_nb: float = -math.inf  # ... ending in the prefix's last symbol
    lm: float = 0.0  # log p_lm of the prefix's characters
    lm_state: Any = None

    @property
    def total(self) -> float:
        return _logadd(self.p_b, self.p_nb)


Prefix = tuple[int, ...]


def _extend(
    beams: dict[Prefix, _Beam], row: list[float], cands: list[int], lm: CharLM | None
) -> tuple[dict[Prefix, _Beam], list[tuple[Prefix, _Beam, int]]]:
    """One frame of prefix beam search (module docstring): every prefix of ``beams`` carried
    on by a blank or a repeat, and extended by each candidate symbol. Returns the new prefixes
    and the (prefix, parent, symbol) whose LM state is still to be computed."""
    nxt: dict[Prefix, _Beam] = {}
    need_lm: list[tuple[Prefix, _Beam, int]] = []

    def get(prefix: Prefix, parent: _Beam, k: int | None) -> _Beam:
        if prefix in nxt:
            return nxt[prefix]
        if k is None or prefix in beams:  # a prefix already in the beam keeps its LM terms
            src = beams.get(prefix, parent)
            b = _Beam(lm=src.lm, lm_state=src.lm_state)
        else:
            b = _Beam(lm=parent.lm + (float(lm.next_logp(parent.lm_state)[k]) if lm else 0.0))
            if lm is not None:
                need_lm.append((prefix, parent, k))
        nxt[prefix] = b
        return b

    for prefix, b in beams.items():
        total = b.total
        stay = get(prefix, b, None)
        stay.p_b = _logadd(stay.p_b, total + row[BLANK])  # blank: prefix unchanged
        last = prefix[-1] if prefix else None
        if last is not None:  # the last symbol again, no blank between: unchanged
            stay.p_nb = _logadd(stay.p_nb, b.p_nb + row[last])
        for k in cands:
            grown = get((*prefix, k), b, k)
            grown.p_nb = _logadd(grown.p_nb, (b.p_b if k == last else total) + row[k])
    return nxt, need_lm


def prefix_beam_search(
    log_probs: Tensor,
    length: int | None = None,
    beam: int = 8,
    lm: CharLM | None = None,
    lm_weight: float = 0.0,
    length_bonus: float = 0.0,
    prune: float = 1e-4,
) -> Hypothesis:
    """The best transcript of ``log_probs`` (T', V) by CTC prefix beam search (module
    docstring), optionally fused with ``lm``. Symbols below ``prune`` probability at a frame
    are not tried as extensions there (the most probable one always is).

    With ``beam`` at least the number of distinct prefixes the frames allow and no pruning,
    the search is exact: it returns the transcript of highest total CTC probability."""
    lp = log_probs[: length if length is not None else log_probs.shape[0]].double().cpu()
    use_lm = lm is not None and lm_weight != 0.0
    beams: dict[Prefix, _Beam] = {(): _Beam(p_b=0.0, lm_state=lm.start() if use_lm else None)}

    def rank(item: tuple[Prefix, _Beam]) -> float:
        prefix, b = item
        return b.total + lm_weight * b.lm + length_bonus * len(prefix)

    log_prune = math.log(prune) if prune > 0 else -math.inf
    for t in range(lp.shape[0]):
        row = lp[t]
        cands = [k for k in range(1, row.shape[0]) if row[k] >= log_prune]
        if not cands:
            cands = [int(row[1:].argmax()) + 1]
        nxt, need_lm = _extend(beams, row.tolist(), cands, lm if use_lm else None)
        beams = dict(sorted(nxt.items(), key=rank, reverse=True)[:beam])
        if use_lm:  # LM states only for the prefixes that survived
            todo = [(p, par, k) for p, par, k in need_lm if p in beams]
            if todo:
                states = lm.advance([par.lm_state for _, par, _ in todo], [k for *_, k in todo])
                for (p, _, _), st in zip(todo, states, strict=True):
                    beams[p].lm_state = st

    def final(item: tuple[Prefix, _Beam]) -> float:
        end = lm_weight * lm.end(item[1].lm_state) if use_lm else 0.0
        return rank(item) + end

    prefix, b = max(beams.items(), key=final)
    return Hypothesis(list(prefix), final((prefix, b)))
