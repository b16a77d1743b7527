"""How varied a set of written replies is: distinct-n (Li et al. 2016), the share of distinct
word n-grams among all of them (generic replies such as "I know not" score low), and the share
of the most frequent reply (a model that answers everything alike scores near 1)."""

from __future__ import annotations

from collections import Counter


def distinct(outputs: list[str], n: int) -> float:
    """Distinct n-grams over all n-grams of the outputs (Li et al. 2016), 0 if none."""
    grams = [tuple(w[i : i + n]) for o in outputs for w in [o.lower().split()]
             for i in range(len(w) - n + 1)]  # fmt: skip
    return len(set(grams)) / len(grams) if grams else 0.0


def top_reply_share(outputs: list[str]) -> float:
    """The share of the outputs that are the most frequent one (lowercased, spaces collapsed:
    as distinct-n reads them), 0 if none: 0.3 means three replies in ten are the same line."""
    counts = Counter(" ".join(o.lower().split()) for o in outputs)
    return max(counts.values()) / len(outputs) if outputs else 0.0
