"""Distinct-n (Li et al. 2016): how varied a set of written replies is, as the share of distinct
word n-grams among all of them (generic replies such as "I know not" score low)."""

from __future__ import annotations


def distinct(outputs: list[str], n: int) -> float:
    """Distinct n-grams over all n-grams of the outputs (Li et al. 2016), 0 if none."""
    grams = [tuple(w[i : i + n]) for o in outputs for w in [o.lower().split()]
             for i in range(len(w) - n + 1)]  # fmt: skip
    return len(set(grams)) / len(grams) if grams else 0.0
