"""What a decoder or sampler may emit next: the two kinds of constraint it can be handed.

``Constraint`` is the batched kind the step-model decoders in ``rnnkit.generate.search`` take:
a mask per row of what may come next (``allowed``), told what each row emitted (``advance``)
and following beams to their parents (``select``). ``BagConstraint`` is one: the output is a
permutation of a multiset of tokens (word reordering); ``NoRepeatNgram`` is another: no n-gram
twice in one output (fairseq's ``--no-repeat-ngram-size``); ``NotEmpty`` refuses the end
token before a first token; ``AllOf`` combines constraints.

``TokenRules`` is the incremental kind a sampler asks about each draw, one sequence at a time:
it is told each id drawn (``push``) and asked about a candidate (``allows``); a sampler draws
again, from what it has not refused yet, until the rules allow the draw. The tune rules of the
music task (``RulesById``) are one, for the network and the Kneser-Ney samplers alike.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from rnnkit.errors import RnnkitError


class Constraint(Protocol):
    """What each of N rows may emit next; ``advance`` and ``select`` return a new constraint
    and leave this one as it was."""

    def allowed(self) -> Tensor:
        """(N, V) bool: True where the row may emit the id next."""
        ...

    def advance(self, tokens: Tensor) -> Constraint:
        """After each row emitted ``tokens`` (N,)."""
        ...

    def select(self, index: Tensor) -> Constraint:
        """Rows by ``index`` (M,): beams follow their parents."""
        ...


@runtime_checkable
class TokenRules(Protocol):
    """What one sequence may draw next, asked one candidate at a time."""

    def allows(self, token: int) -> bool: ...

    def push(self, token: int) -> None: ...


class BagConstraint:
    """The output of each row is a permutation of its bag: ``counts`` (N, V) says how many of
    each id the row still holds. An id may come while its count is above 0, ``eos`` only once
    every count is used."""

    def __init__(self, counts: Tensor, eos: int) -> None:
        self.counts, self.eos = counts, eos  # (N, V) long

    def allowed(self) -> Tensor:
        ok = self.counts > 0  # (N, V)
        ok[:, self.eos] = self.counts.sum(-1) == 0  # end only once the bag is empty
        return ok

    def advance(self, tokens: Tensor) -> BagConstraint:
        counts = self.counts.clone()
        counts[torch.arange(len(tokens), device=counts.device), tokens] -= 1
        # A row that has ended keeps taking EOS, and a dead beam slot takes an EOS it does not
        # hold: neither may leave a count below 0.
        return BagConstraint(counts.clamp_(min=0), self.eos)

    def select(self, index: Tensor) -> BagConstraint:
        return BagConstraint(self.counts[index], self.eos)


class NoRepeatNgram:
    """No row emits an ``n``-gram of tokens it has already emitted: after the last ``n - 1``
    tokens, every token that followed them earlier in the row is refused (fairseq's
    ``--no-repeat-ngram-size``; ``n`` 1: no token twice). ``eos`` is never refused, so a row
    can always end, and ended rows may keep taking it. ``history`` (N, t) holds each row's
    tokens so far (none at the start)."""

    def __init__(
        self,
        n: int,
        rows: int,
        vocab_size: int,
        eos: int,
        device: torch.device | str = "cpu",
        history: Tensor | None = None,
    ) -> None:
        if n < 1:
            raise RnnkitError(f"the n-gram size must be at least 1, got {n}")
        self.n, self.vocab_size, self.eos = n, vocab_size, eos
        if history is None:
            history = torch.empty(rows, 0, dtype=torch.long, device=device)
        self.history = history  # (N, t)

    def allowed(self) -> Tensor:
        N, t = self.history.shape
        ok = torch.ones(N, self.vocab_size, dtype=torch.bool, device=self.history.device)
        if t >= self.n:
            grams = self.history.unfold(1, self.n, 1)  # (N, t - n + 1, n): every n-gram so far
            last = self.history[:, t - self.n + 1 :]  # (N, n - 1): what the next token follows
            seen = (grams[:, :, :-1] == last[:, None, :]).all(-1)  # (N, t - n + 1)
            rows, at = seen.nonzero(as_tuple=True)
            ok[rows, grams[rows, at, -1]] = False
            ok[:, self.eos] = True
        return ok

    def advance(self, tokens: Tensor) -> NoRepeatNgram:
        history = torch.cat([self.history, tokens.to(self.history.device)[:, None]], 1)
        return NoRepeatNgram(self.n, 0, self.vocab_size, self.eos, history=history)

    def select(self, index: Tensor) -> NoRepeatNgram:
        history = self.history[index.to(self.history.device)]
        return NoRepeatNgram(self.n, 0, self.vocab_size, self.eos, history=history)


class NotEmpty:
    """No row ends before it has emitted a token: ``eos`` is refused at the first step only
    (an empty reply or translation is never what a user asked for)."""

    def __init__(self, rows: int, vocab_size: int, eos: int, device: torch.device | str = "cpu",
                 started: bool = False) -> None:  # fmt: skip
        self.rows, self.vocab_size, self.eos, self.device = rows, vocab_size, eos, device
        self.started = started

    def allowed(self) -> Tensor:
        ok = torch.ones(self.rows, self.vocab_size, dtype=torch.bool, device=self.device)
        ok[:, self.eos] = self.started
        return ok

    def advance(self, tokens: Tensor) -> NotEmpty:
        return NotEmpty(self.rows, self.vocab_size, self.eos, self.device, started=True)

    def select(self, index: Tensor) -> NotEmpty:
        return NotEmpty(len(index), self.vocab_size, self.eos, self.device, self.started)


class AllOf:
    """What every one of ``constraints`` allows."""

    def __init__(self, *constraints: Constraint) -> None:
        self.constraints = constraints

    def allowed(self) -> Tensor:
        ok = self.constraints[0].allowed()
        for c in self.constraints[1:]:
            ok = ok & c.allowed()
        return ok

    def advance(self, tokens: Tensor) -> AllOf:
        return AllOf(*(c.advance(tokens) for c in self.constraints))

    def select(self, index: Tensor) -> AllOf:
        return AllOf(*(c.select(index) for c in self.constraints))
