r"""Choosing one output among several candidates for the same source by mutual information
(Li et al. 2016, "A Diversity-Promoting Objective Function for Neural Conversation Models",
MMI-antiLM): a candidate reply T to the source S scores

    log p(T | S) - lambda * log p_LM(T) + gamma * |T|

where p(T | S) is the model's, p_LM(T) a language model of the outputs alone, and |T| the
candidate's length in words. With lambda above 0 a reply that is likely whatever the source
("I know not.") loses to one that the source makes likely; gamma offsets the pull of both
terms towards short replies. lambda = gamma = 0 keeps the model's most probable candidate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    """One candidate output: the model's log p(T|S), the LM's log p_LM(T) and |T| in words."""

    logprob: float
    lm_logprob: float
    words: int


def mmi_score(c: Candidate, lam: float, gamma: float) -> float:
    """log p(T|S) - lam * log p_LM(T) + gamma * |T| (the module docstring)."""
    return c.logprob - lam * c.lm_logprob + gamma * c.words


def mmi_best(groups: Sequence[Sequence[Candidate]], lam: float, gamma: float) -> list[int]:
    """The index of the best-scored candidate of each group (the first of equals)."""
    return [max(range(len(g)), key=lambda i: (mmi_score(g[i], lam, gamma), -i)) for g in groups]
