"""What a decoder or sampler may emit next: the two kinds of constraint it can be handed.

``Constraint`` is the batched kind the step-model decoders in ``rnnkit.generate.search`` take:
a mask per row of what may come next (``allowed``), told what each row emitted (``advance``)
and following beams to their parents (``select``). ``BagConstraint`` is one: the output is a
permutation of a multiset of tokens (word reordering).

``TokenRules`` is the incremental kind a sampler asks about each draw, one sequence at a time:
it is told each id drawn (``push``) and asked about a candidate (``allows``); a sampler draws
again, from what it has not refused yet, until the rules allow the draw. The tune rules of the
music task (``RulesById``) are one, for the network and the Kneser-Ney samplers alike.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import Tensor


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
