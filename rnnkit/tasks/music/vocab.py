"""The music vocabulary's special tokens, the longest sampled tune, and running a tune model
with or without its bar classes: what the task and the samplers both use."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
MAX_TUNE_TOKENS = 1000  # a sampled tune that has not ended by then is cut (and counted)


def run_model(model: nn.Module, x: Tensor, positions: Tensor | None, state: Any = None
              ) -> tuple[Tensor, Any]:  # fmt: skip
    """Logits (B, T, V) and state of ``x`` (B, T) ids with their bar classes ``positions``
    (B, T; None for a model without them)."""
    return model(x, positions, state) if positions is not None else model(x, state)
