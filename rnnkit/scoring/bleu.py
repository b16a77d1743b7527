"""BLEU and chrF of written texts against one reference each (sacrebleu's corpus scores with
its defaults, 0-100): what translation, the dialogue model and word reordering report."""

from __future__ import annotations


def bleu_chrf(hyps: list[str], refs: list[str]) -> dict[str, float]:
    """Corpus BLEU and chrF (sacrebleu's defaults, 0-100) of detokenized texts."""
    import sacrebleu

    return {
        "bleu": float(sacrebleu.corpus_bleu(hyps, [refs]).score),
        "chrf": float(sacrebleu.corpus_chrf(hyps, [refs]).score),
    }
