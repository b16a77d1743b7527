r"""Shallow fusion: a step model whose scores add an n-gram language model's to a network's.

``ShallowFusion(model, lm, weight, sink)`` is itself a step model (``start``/``step``, a state
with ``select``; see ``rnnkit.generate.search``), so greedy, sampled and beam search decode
with it unchanged. At each step a row's score of token :math:`v` is

.. math::
    \log p_{model}(v \mid x, y_{<t}) + \lambda \log p_{lm}(v \mid y_{t-n+1..t-1})

with :math:`\lambda` = ``weight``; the state carries each row's last ``lm.order - 1`` tokens
(beams take their parents' with ``select``). The search takes a log-softmax of what a step
model returns, which would shift each row by its own constant; so the probability the fused
scores leave (:math:`\lambda > 0` makes them sum below one) goes to ``sink``, an id the search's
constraint never allows (padding under a ``BagConstraint``), and the log-softmax leaves every
other score as it is: a hypothesis is ranked by its summed fused scores.

The LM is asked about every id of the vocabulary, or, with ``candidates`` (N, V) bool per
source row, only about the ids the row may ever emit (a bag's words and the end token): the
others keep the model's score alone, which is right when the constraint refuses them, and
the n-gram is asked about a handful of ids instead of the vocabulary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from rnnkit.errors import RnnkitError


class NgramLM(Protocol):
    """What fusion asks of a language model over the decoder's ids (a ``KneserNey``)."""

    order: int

    def distribution(self, history: Sequence[int], ids: np.ndarray | None = None) -> np.ndarray:
        """p(. | history) over the vocabulary (V,), or of ``ids`` alone (K,)."""
        ...


@dataclass
class FusedState:
    inner: Any  # the model's state
    rows: Tensor  # (N,) long, CPU: the source row each row decodes
    histories: list[tuple[int, ...]]  # per row, the last lm.order - 1 tokens emitted
    started: bool  # False until the first step (which is fed the begin token, not an output)

    def select(self, index: Tensor) -> FusedState:
        picked = index.cpu().tolist()
        return FusedState(self.inner.select(index), self.rows[index.cpu()],
                          [self.histories[i] for i in picked], self.started)  # fmt: skip


class ShallowFusion:
    """``model``'s log-probabilities plus ``weight`` times ``lm``'s, a step model."""

    def __init__(self, model: Any, lm: NgramLM, weight: float, sink: int,
                 candidates: Tensor | None = None) -> None:  # fmt: skip
        if weight < 0:
            raise RnnkitError(f"the LM weight must be at least 0, got {weight}")
        self.model, self.lm, self.weight, self.sink = model, lm, weight, sink
        self.context = lm.order - 1
        self.ids = (None if candidates is None
                    else [np.flatnonzero(r) for r in candidates.cpu().numpy()])  # fmt: skip

    def start(self, src: Tensor, lengths: Tensor) -> FusedState:
        if self.ids is not None and len(self.ids) != src.shape[0]:
            raise RnnkitError(f"{len(self.ids)} rows of candidates for {src.shape[0]} sources")
        N = src.shape[0]
        return FusedState(self.model.start(src, lengths), torch.arange(N), [()] * N, False)

    def step(self, tokens: Tensor, st: FusedState) -> tuple[Tensor, FusedState, Tensor | None]:
        histories = st.histories
        if st.started:
            c = self.context
            histories = [(*h, t)[-c:] if c else ()
                         for h, t in zip(histories, tokens.tolist(), strict=True)]  # fmt: skip
        logits, inner, weights = self.model.step(tokens, st.inner)
        fused = logits.float().log_softmax(-1)  # (N, V)
        if self.weight > 0:
            fused = fused + self.weight * self._lm_log_probs(histories, st.rows, fused)
        fused[:, self.sink] = float("-inf")
        left = -torch.expm1(fused.logsumexp(-1))  # (N,) probability the fused scores leave
        fused[:, self.sink] = left.clamp(min=1e-30).log()
        return fused, FusedState(inner, st.rows, histories, True), weights

    def _lm_log_probs(self, histories: list[tuple[int, ...]], rows: Tensor, like: Tensor) -> Tensor:
        """log p_lm per row (N, V) on ``like``'s device: 0 outside the row's candidates."""
        if self.ids is None:
            with np.errstate(divide="ignore"):  # ids the LM never predicts: log 0 = -inf
                lp = np.log(np.stack([self.lm.distribution(h) for h in histories]))  # (N, V)
            return torch.from_numpy(lp).to(like)
        at_rows, at_ids, values = [], [], []
        asked: dict[tuple, np.ndarray] = {}  # beams of one row often share the last tokens
        for i, (h, r) in enumerate(zip(histories, rows.tolist(), strict=True)):
            if (h, r) not in asked:
                asked[h, r] = np.log(self.lm.distribution(h, self.ids[r]))
            at_rows.append(np.full(len(self.ids[r]), i))
            at_ids.append(self.ids[r])
            values.append(asked[h, r])
        out = torch.zeros_like(like)  # (N, V)
        index = (torch.from_numpy(np.concatenate(at_rows)).to(like.device),
                 torch.from_numpy(np.concatenate(at_ids)).to(like.device))  # fmt: skip
        out[index] = torch.from_numpy(np.concatenate(values)).to(like)
        return out
