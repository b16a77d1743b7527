"""Speech recognition scores: corpus word and character error rates (``jiwer``)."""

from __future__ import annotations


def error_rates(refs: list[str], hyps: list[str]) -> dict[str, float]:
    """Corpus word and character error rates (jiwer): edit operations / reference length."""
    import jiwer

    if not refs:
        return {"wer": 0.0, "cer": 0.0}
    hyps = [h if h.strip() else "" for h in hyps]
    return {"wer": float(jiwer.wer(refs, hyps)), "cer": float(jiwer.cer(refs, hyps))}
