"""The one logits filter every sampler and decoder draws through: a mask of the ids that may
come next, temperature, top-k and nucleus (top-p) truncation.

``filter_logits`` returns logits of the same shape with the dropped ids at -inf, so that
``softmax`` of the result is the distribution to draw from. The steps come in this order:
mask, temperature, top-k, top-p (the nucleus is taken of the tempered distribution, as in
Holtzman et al. 2020 and Hugging Face's ``TopPLogitsWarper``). Greedy decoding (temperature 0)
is the argmax of the masked logits; ``rnnkit.generate.sampling.draw`` does both.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.errors import RnnkitError

NEG = float("-inf")


def filter_logits(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    allowed: Tensor | None = None,
) -> Tensor:
    """``logits`` (V,) or (N, V) with every id ``allowed`` refuses, and every id outside the
    ``top_k`` most likely or outside the nucleus, set to -inf, the rest divided by
    ``temperature``.

    ``allowed`` is a bool mask that broadcasts to ``logits`` (V,) or (N, V); None allows all.
    ``top_k`` None or 0 keeps every id; ties with the k-th value are kept. The nucleus is the
    smallest set of most likely ids whose probability reaches ``top_p`` (None or 1: all): an
    id is dropped when the mass ranked above it already reaches ``top_p``.
    """
    if temperature <= 0:
        raise RnnkitError(f"the filter needs a temperature above 0, got {temperature} "
                          "(temperature 0 is greedy: the argmax of the masked logits)")  # fmt: skip
    z = logits if allowed is None else logits.masked_fill(~allowed, NEG)
    if temperature != 1:
        z = z / temperature
    if top_k and top_k < z.shape[-1]:
        kth = z.topk(top_k, dim=-1).values[..., -1:]  # (..., 1): the k-th largest per row
        z = z.masked_fill(z < kth, NEG)
    if top_p is not None and top_p < 1:
        ranked, order = z.sort(-1, descending=True)  # (..., V) each
        p = ranked.softmax(-1)
        before = p.cumsum(-1) - p  # the mass ranked above each id
        drop = torch.empty_like(before, dtype=torch.bool).scatter_(-1, order, before >= top_p)
        z = z.masked_fill(drop, NEG)
    return z
