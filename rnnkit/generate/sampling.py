"""Drawing one token from a model's logits: temperature, top-k and nucleus (top-p) sampling,
and the checks of their settings."""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.config import check_value


def check_sampling(temperature: float, top_k: int | None, top_p: float | None) -> None:
    check_value("temperature", temperature, {"lo": 0, "hi": 100}, float, False)
    check_value("top_k", top_k, {"lo": 1, "hi": 10**7}, int, True)
    check_value("top_p", top_p, {"lo": 0, "hi": 1, "lo_open": True}, float, True)


def sample_next(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> int:
    """Draw one token id from ``logits`` (V,): temperature, then top-k, then nucleus (top-p).

    Temperature 0 is greedy decoding. Nucleus keeps the smallest set of most likely tokens
    whose probabilities sum to at least ``top_p`` (Holtzman et al. 2020).
    """
    if temperature == 0:
        return int(logits.argmax())
    logits = logits / temperature
    if top_k is not None and top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1:
        sorted_logits, order = torch.sort(logits, descending=True)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        drop = cum - sorted_logits.softmax(-1) >= top_p  # mass before this token already enough
        drop = torch.empty_like(drop).scatter_(0, order, drop)  # back to vocabulary order
        logits = logits.masked_fill(drop, float("-inf"))
    return int(torch.multinomial(logits.softmax(-1), 1, generator=generator))
