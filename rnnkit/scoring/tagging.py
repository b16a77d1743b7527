"""Scores of tag sequences (sequence tagging): token accuracy, and for BIO/IOB2 tag sets the
entity-level precision, recall and F1 of seqeval (an entity counts only when its type and both
ends are right)."""

from __future__ import annotations


def scores(gold: list[list[str]], pred: list[list[str]], bio: bool) -> dict[str, float]:
    """Token accuracy of ``pred`` against ``gold`` (one tag list per sentence), with ``bio``
    also seqeval's entity precision, recall and F1."""
    pairs = [(g, p) for gs, ps in zip(gold, pred, strict=True) for g, p in zip(gs, ps, strict=True)]
    out = {"token_accuracy": sum(g == p for g, p in pairs) / max(len(pairs), 1)}
    if bio:
        from seqeval.metrics import f1_score, precision_score, recall_score

        out["precision"] = float(precision_score(gold, pred, zero_division=0))
        out["recall"] = float(recall_score(gold, pred, zero_division=0))
        out["f1"] = float(f1_score(gold, pred, zero_division=0))
    return out
