"""Scores of word orders (word reordering): the share of sentences put back exactly, and corpus
BLEU of the orders against the sentences (sacrebleu's default, 0-100)."""

from __future__ import annotations

from rnnkit.scoring.bleu import corpus_bleu


def scores(
    pred: list[list[str]], gold: list[list[str]], effective_order: bool = False
) -> dict[str, float]:
    """Exact match (fraction of sentences) and corpus BLEU (0-100, sacrebleu's default;
    ``effective_order``: over the orders the outputs have, ``rnnkit.scoring.bleu``)."""
    hyps, refs = [" ".join(p) for p in pred], [" ".join(g) for g in gold]
    return {
        "exact_match": sum(p == g for p, g in zip(pred, gold, strict=True)) / max(len(gold), 1),
        "bleu": corpus_bleu(hyps, [refs], effective_order),
    }
