"""Drawing tokens from a model's logits through the one filter (``filter_logits``): a batched
draw, one id from one row, the token loop of a stateful language model, and the checks of the
sampling settings."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor

from rnnkit.config import check_value
from rnnkit.generate.filters import filter_logits


def check_sampling(temperature: float, top_k: int | None, top_p: float | None) -> None:
    check_value("temperature", temperature, {"lo": 0, "hi": 100}, float, False)
    check_value("top_k", top_k, {"lo": 1, "hi": 10**7}, int, True)
    check_value("top_p", top_p, {"lo": 0, "hi": 1, "lo_open": True}, float, True)


def draw(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    allowed: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One id per row of ``logits`` (N, V), (N,): from softmax of the filtered logits, or at
    temperature 0 the argmax of the logits ``allowed`` leaves (top-k and top-p do not matter
    then). One ``torch.multinomial`` call on ``generator`` per draw."""
    if temperature == 0:
        return filter_logits(logits, allowed=allowed).argmax(-1)
    z = filter_logits(logits, temperature, top_k, top_p, allowed)  # (N, V)
    return torch.multinomial(z.softmax(-1), 1, generator=generator)[:, 0]


def sample_next(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> int:
    """One token id drawn from ``logits`` (V,) as ``draw`` draws a row."""
    return int(draw(logits[None], temperature, top_k, top_p, generator=generator)[0])


@torch.no_grad()
def sample_tokens(
    model: Any,
    ids: Sequence[int],
    length: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Iterator[int]:
    """Yield ``length`` ids drawn one by one after the prompt ``ids`` from a stateful model,
    ``model(ids (1, T), state) -> (logits (1, T, V), state)``: each drawn id is fed back with
    the state the model carried so far."""
    model.eval()
    logits, state = model(torch.tensor([list(ids)]))  # (1, T, V)
    for _ in range(length):
        tok = sample_next(logits[0, -1], temperature, top_k, top_p, generator)
        yield tok
        logits, state = model(torch.tensor([[tok]]), state)  # (1, 1, V)
