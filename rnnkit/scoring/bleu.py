"""BLEU and chrF of written texts against one reference each (sacrebleu's corpus scores with
its defaults, 0-100): what translation, the dialogue model and word reordering report.

``effective_order``: BLEU over the n-gram orders the outputs have (sacrebleu's
``use_effective_order``), for the figures that pick a checkpoint or a decoding. Standard BLEU-4
is 0 for every corpus whose outputs are all shorter than four tokens (three-word captions,
short replies, a model that has just begun), so it cannot tell two such checkpoints apart;
with the effective order it is BLEU-3 (or -2, -1) there, and equal to BLEU-4 whenever any
output has four tokens. Orders with no match are smoothed as sacrebleu always does ("exp").
"""

from __future__ import annotations


def corpus_bleu(hyps: list[str], refs: list[list[str | None]], effective_order: bool) -> float:
    """sacrebleu's corpus BLEU (0-100) of ``hyps`` against reference streams ``refs``."""
    import sacrebleu

    return float(sacrebleu.corpus_bleu(hyps, refs, use_effective_order=effective_order).score)


def bleu_chrf(hyps: list[str], refs: list[str], effective_order: bool = False) -> dict[str, float]:
    """Corpus BLEU and chrF (sacrebleu's defaults, 0-100) of detokenized texts."""
    import sacrebleu

    return {
        "bleu": corpus_bleu(hyps, [refs], effective_order),
        "chrf": float(sacrebleu.corpus_chrf(hyps, [refs]).score),
    }
