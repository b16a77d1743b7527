"""The order of a bag of tokens that an n-gram model scores highest (word reordering's n-gram
baseline): beam search over permutations, the bigram search generalised to an n-gram state.

A partial order is scored by the sum of log p(token | the tokens before it); a full one adds
log p(end | all of it). Two partial orders that have used the same tokens and end in the same
``order - 1`` tokens have the same future, so only the better is kept; of equal tokens the
first unused is always the one taken, so a bag with repeats makes no copies of a state.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rnnkit.baselines.kneser_ney import KneserNey


def best_order(lm: KneserNey, tokens: Sequence[int], end: int, beam: int = 64) -> list[int]:
    """Positions of ``tokens`` in the order ``lm`` scores highest (with ``end`` after the last)
    among those a beam of ``beam`` states keeps at each step."""
    context = lm.order - 1
    beams: list[tuple[float, tuple[int, ...]]] = [(0.0, ())]  # (log p so far, positions used)
    for _ in tokens:
        grown: dict[tuple, tuple[float, tuple[int, ...]]] = {}
        for score, used in beams:
            history = [tokens[j] for j in used]
            first_unused: dict[int, int] = {}  # token -> its first position not yet used
            for j, t in enumerate(tokens):
                if j not in used:
                    first_unused.setdefault(t, j)
            nexts = list(first_unused.values())
            logp = np.log(lm.distribution(history, np.array([tokens[j] for j in nexts])))
            for j, lp in zip(nexts, logp.tolist(), strict=True):
                order = (*used, j)
                last = tuple(tokens[i] for i in order[-context:]) if context else ()
                key = (tuple(sorted(order)), last)
                if key not in grown or score + lp > grown[key][0]:
                    grown[key] = (score + lp, order)
        beams = sorted(grown.values(), key=lambda c: -c[0])[:beam]

    def with_end(c: tuple[float, tuple[int, ...]]) -> float:
        history = [tokens[j] for j in c[1]]
        return c[0] + float(np.log(lm.distribution(history, np.array([end]))[0]))

    return list(max(beams, key=with_end)[1])
