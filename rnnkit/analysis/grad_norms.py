"""Record the total gradient norm of every training step, before clipping, without touching
the Trainer: parameter hooks sum the squared gradients as backward accumulates them."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from torch import nn


class GradNormRecorder:
    """``norms[i]`` = sqrt(sum_p ||dL/dp||^2) of the i-th backward pass through ``model``;
    ``losses[i]`` the loss of that step.

    Wrap the Trainer's loss function with ``wrap``: each call closes the previous step's sum,
    so the norm is the one the Trainer saw before it clipped. Call ``close`` after training.
    """

    def __init__(self, model: nn.Module):
        self.norms: list[float] = []
        self.losses: list[float] = []
        self._sq = 0.0
        self._seen = 0
        for p in model.parameters():
            if p.requires_grad:
                p.register_post_accumulate_grad_hook(self._hook)

    def _hook(self, p: nn.Parameter) -> None:
        self._sq += float(p.grad.detach().double().pow(2).sum())
        self._seen += 1

    def close(self) -> None:
        if self._seen:
            self.norms.append(math.sqrt(self._sq))
        self._sq, self._seen = 0.0, 0

    def wrap(self, loss_fn: Callable[..., Any]) -> Callable[..., Any]:
        def recorded(model: nn.Module, batch: Any, state: Any) -> Any:
            self.close()
            out = loss_fn(model, batch, state)
            self.losses.append(float(out.loss.detach()))
            return out

        return recorded
