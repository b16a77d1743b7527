"""ROUGE of summaries: the mean ROUGE-1, ROUGE-2 and ROUGE-L F-measures (Google's
``rouge-score``, Porter stemming, x100) of outputs against one reference each."""

from __future__ import annotations


def rouge(outputs: list[str], references: list[str]) -> dict[str, float]:
    """Mean ROUGE-1/2/L F-measures (x100) of outputs against one reference each."""
    from rouge_score import rouge_scorer

    kinds = ("rouge1", "rouge2", "rougeL")
    scorer = rouge_scorer.RougeScorer(list(kinds), use_stemmer=True)
    totals = dict.fromkeys(kinds, 0.0)
    for out, ref in zip(outputs, references, strict=True):
        for k, v in scorer.score(ref, out).items():
            totals[k] += v.fmeasure
    return {k: 100 * v / max(len(outputs), 1) for k, v in totals.items()}
