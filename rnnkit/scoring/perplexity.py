"""Perplexity per word: exp(total negative log-likelihood / (words + one end per text)), the one
measure on which a model of subword tokens and a model of words can be compared (both give the
same texts a probability; only the units they count in differ). Words are the text's
whitespace-separated words."""

from __future__ import annotations

import math


def word_count(texts: list[str]) -> int:
    """Whitespace-separated words of ``texts`` plus one end per text."""
    return sum(len(t.split()) + 1 for t in texts)


def perplexity_per_word(nll: float, texts: list[str]) -> float:
    """exp(``nll`` (nats, over all of ``texts`` and their ends) / ``word_count(texts)``)."""
    return math.exp(nll / max(word_count(texts), 1))
