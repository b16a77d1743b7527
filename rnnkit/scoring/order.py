"""Scores of word orders (word reordering): the share of sentences put back exactly, and corpus
BLEU of the orders against the sentences (sacrebleu's default, 0-100)."""

from __future__ import annotations


def scores(pred: list[list[str]], gold: list[list[str]]) -> dict[str, float]:
    """Exact match (fraction of sentences) and corpus BLEU (0-100, sacrebleu's default)."""
    import sacrebleu

    hyps, refs = [" ".join(p) for p in pred], [" ".join(g) for g in gold]
    return {
        "exact_match": sum(p == g for p, g in zip(pred, gold, strict=True)) / max(len(gold), 1),
        "bleu": float(sacrebleu.corpus_bleu(hyps, [refs]).score),
    }
