r"""Interpolated modified Kneser-Ney n-gram model (Chen & Goodman 1998), the n-gram baseline.

For an order-:math:`k` history :math:`h` (the last :math:`k-1` tokens) and a token :math:`w`,

.. math::
    p_k(w \mid h) = \frac{\max(c_k(h w) - D_k(c_k(h w)), 0)}{c_k(h)}
        + \frac{D_{k,1} N_1(h\,\cdot) + D_{k,2} N_2(h\,\cdot) + D_{k,3+} N_{3+}(h\,\cdot)}{c_k(h)}
          \, p_{k-1}(w \mid h')

where :math:`h'` drops the oldest token of :math:`h`, :math:`c_k(h) = \sum_w c_k(h w)`,
:math:`N_j(h\,\cdot)` counts the tokens seen after :math:`h` exactly :math:`j` times
(:math:`3+`: at least three times), and an unseen history gives :math:`p_{k-1}` itself. The
highest order counts n-grams; each lower order counts continuations,
:math:`c_k(h w) = |\{v : c_{k+1}(v h w) > 0\}|`. The bottom is uniform over the predicted
vocabulary, :math:`p_0(w) = 1/|V|`. The discounts of each order come from its counts of counts
:math:`n_1..n_4`: :math:`Y = n_1 / (n_1 + 2 n_2)`, :math:`D_j = j - (j + 1) Y n_{j+1} / n_j`.

Every history is padded with ``order - 1`` begin tokens, so every distribution sums to one over
the vocabulary (the begin and padding ids excluded). A fitted model is its n-gram counts:
``to_dict``/``from_dict`` keep them (JSON-ready) and rebuild the same tables.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnnkit.errors import RnnkitError
from rnnkit.generate.constraints import TokenRules
from rnnkit.generate.filters import filter_logits

FALLBACK = (0.5, 1.0, 1.5)  # when an order's counts of counts are too few for the estimate


def modified_discounts(counts_of_counts: Sequence[int]) -> tuple[float, float, float]:
    """(D1, D2, D3+) from n1..n4, each kept within [0, j]; ``FALLBACK`` if a count is 0 or an
    estimate is not above 0 (KenLM's ``--discount_fallback``): with a discount of 0, a history
    whose followers all have that count keeps no mass for the rest, which then get p = 0."""
    n1, n2, n3, n4 = counts_of_counts
    if min(n1, n2, n3) == 0:
        return FALLBACK
    y = n1 / (n1 + 2 * n2)
    d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    if min(d) <= 0:
        return FALLBACK
    return tuple(float(min(x, j)) for j, x in enumerate(d, 1))  # type: ignore[return-value]


class KneserNey:
    """An order-``order`` model over ids ``0..vocab_size-1``; ``bos`` pads histories and is
    never predicted, nor are the ids in ``exclude`` (padding)."""

    def __init__(self, order: int, vocab_size: int, bos: int, exclude: Sequence[int] = ()):
        if order < 1:
            raise RnnkitError(f"the n-gram order must be at least 1, got {order}")
        self.order, self.vocab_size, self.bos = order, vocab_size, bos
        self.exclude = [int(i) for i in exclude]
        self.targets = np.ones(vocab_size, dtype=bool)
        self.targets[[bos, *self.exclude]] = False
        # per order k: history (k-1 ids) -> (next ids ascending, discounted counts, total,
        # backoff mass)
        self.tables: list[dict[tuple, tuple[np.ndarray, np.ndarray, float, float]]] = []
        self.discounts: list[tuple[float, float, float]] = []
        self.counts: Mapping[tuple[int, ...], int] = {}  # the order-n n-grams counted

    def fit(
        self,
        sequences: Sequence[Sequence[int]],
        discounts: Sequence[tuple[float, float, float]] | None = None,
    ) -> KneserNey:
        """Count ``sequences`` (ids after the begin token, end token included). ``discounts``
        (one (D1, D2, D3+) per order, lowest first) replaces the estimate."""
        n = self.order
        grams: Counter = Counter()
        for seq in sequences:
            padded = [self.bos] * (n - 1) + list(seq)
            grams.update(tuple(padded[i : i + n]) for i in range(len(padded) - n + 1))
        return self.fit_counts(grams, discounts)

    def fit_counts(
        self,
        grams: Mapping[tuple[int, ...], int],
        discounts: Sequence[tuple[float, float, float]] | None = None,
    ) -> KneserNey:
        """The tables from the order-n n-gram counts (histories padded with the begin id)."""
        n = self.order
        self.counts = grams
        by_order = {n: Counter(grams)}
        for k in range(n - 1, 0, -1):  # continuation counts: distinct left neighbours
            by_order[k] = Counter(g[1:] for g in by_order[k + 1])
        self.tables, self.discounts = [], []
        for k in range(1, n + 1):
            counts = by_order[k]
            if discounts is not None:
                d = tuple(discounts[k - 1])
            else:
                of_counts = Counter(counts.values())
                d = modified_discounts([of_counts[j] for j in (1, 2, 3, 4)])
            self.discounts.append(d)
            followers: dict[tuple, list[tuple[int, int]]] = defaultdict(list)
            for g, c in counts.items():
                followers[g[:-1]].append((g[-1], c))
            table = {}
            for h, pairs in followers.items():
                pairs.sort()  # ids ascending: `distribution` finds a few ids by bisection
                ids = np.array([w for w, _ in pairs])
                c = np.array([c for _, c in pairs], dtype=np.float64)
                d_of = np.array(d)[np.minimum(c, 3).astype(int) - 1]  # D(c) per follower
                total = float(c.sum())
                table[h] = (ids, np.maximum(c - d_of, 0.0), total, float(np.minimum(d_of, c).sum()))
            self.tables.append(table)
        return self

    def distribution(self, history: Sequence[int], ids: np.ndarray | None = None) -> np.ndarray:
        """p(. | history) over the whole vocabulary, (V,) float64, or of ``ids`` alone (an int
        array, (K,)); history: the ids so far (after the begin token); only the last
        ``order - 1`` are read."""
        n = self.order
        h = tuple([self.bos] * (n - 1) + list(history[-(n - 1) :] if n > 1 else []))[-(n - 1) :]
        uniform = self.targets / self.targets.sum()  # (V,) over the predicted ids
        p = uniform if ids is None else uniform[ids]  # (V,) or (K,)
        for k in range(1, n + 1):
            entry = self.tables[k - 1].get(h[len(h) - (k - 1) :] if k > 1 else ())
            if entry is None:
                continue
            seen, kept, total, backoff = entry
            p = p * (backoff / total)
            if ids is None:
                p[seen] += kept / total
            else:
                at = np.minimum(np.searchsorted(seen, ids), len(seen) - 1)  # (K,)
                hit = seen[at] == ids
                p[hit] += kept[at[hit]] / total
        return p

    def to_dict(self) -> dict[str, Any]:
        """The model as JSON-ready lists: its settings, discounts and n-gram counts."""
        return {
            "order": self.order, "vocab_size": self.vocab_size, "bos": self.bos,
            "exclude": self.exclude, "discounts": [list(d) for d in self.discounts],
            "ngrams": [[*g, c] for g, c in sorted(self.counts.items())],
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> KneserNey:
        """The model ``to_dict`` gave, with the same tables (ValueError/KeyError/TypeError if
        ``d`` is not one)."""
        kn = cls(int(d["order"]), int(d["vocab_size"]), int(d["bos"]), d["exclude"])
        grams = {tuple(int(i) for i in row[:-1]): int(row[-1]) for row in d["ngrams"]}
        if any(len(g) != kn.order or not all(0 <= i < kn.vocab_size for i in g) for g in grams):
            raise ValueError("an n-gram of the wrong length or outside the vocabulary")
        return kn.fit_counts(grams, [tuple(map(float, x)) for x in d["discounts"]])

    def prob(self, history: Sequence[int], token: int) -> float:
        """p(token | history): ``distribution`` asked about one id."""
        return float(self.distribution(history, np.array([token]))[0])

    def nll(self, sequences: Sequence[Sequence[int]]) -> tuple[float, int]:
        """(total negative log-likelihood in nats, tokens scored) of ``sequences``."""
        total, count = 0.0, 0
        for seq in sequences:
            for i, w in enumerate(seq):
                total -= float(np.log(self.prob(seq[:i], w)))
                count += 1
        return total, count

    def sample(
        self,
        rng: np.random.Generator,
        end: int,
        max_len: int,
        temperature: float = 1.0,
        prefix: Sequence[int] = (),
        rules: TokenRules | None = None,
    ) -> list[int]:
        """Ids drawn one by one after ``prefix`` from p ** (1 / temperature), renormalised (the
        argmax at temperature 0), until ``end`` (included) or ``max_len`` ids; the prefix is
        not returned. With ``rules`` (already told the prefix), an id it refuses is never
        drawn while any other is allowed: the draw is made again without it."""
        out: list[int] = []
        while len(out) < max_len:
            with np.errstate(divide="ignore"):  # ids never predicted: log 0 = -inf
                logits = torch.from_numpy(np.log(self.distribution([*prefix, *out])))  # (V,)
            ok = torch.ones(self.vocab_size, dtype=torch.bool)  # (V,) not refused yet
            token = self._draw(rng, logits, temperature, ok)
            while rules is not None and not rules.allows(token):
                ok[token] = False
                if torch.isneginf(filter_logits(logits, allowed=ok)).all():
                    break  # nothing is allowed: keep the draw
                token = self._draw(rng, logits, temperature, ok)
            if rules is not None:
                rules.push(token)
            out.append(token)
            if out[-1] == end:
                break
        return out

    def _draw(self, rng: np.random.Generator, logits: Tensor, temperature: float,
              allowed: Tensor) -> int:  # fmt: skip
        """One id from log p ``logits`` (V,) through the filter, drawn with numpy's ``rng``."""
        if temperature == 0:
            return int(filter_logits(logits, allowed=allowed).argmax())
        p = filter_logits(logits, temperature, allowed=allowed).softmax(-1).numpy()  # (V,)
        return int(rng.choice(self.vocab_size, p=p / p.sum()))
