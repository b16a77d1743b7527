"""What a task hands the Trainer, and what both use to run a model over batches: the loss
function's ``StepOutput``, the ``ListBatches`` batch source, moving a batch to a device, cutting
a recurrent state's graph, and ``evaluate`` (the mean validation loss plus a task's metrics).

Tasks import this module; only the driver builds a ``Trainer`` (``rnnkit.train.trainer``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.errors import RnnkitError
from rnnkit.train import precision as amp


@dataclass
class StepOutput:
    """What a loss function returns for one batch."""

    loss: Tensor  # scalar: mean over `count` items, differentiable
    count: int  # items the mean is over (tokens, sequences...)
    state: Any = None  # recurrent state to carry into the next batch of a stateful source


LossFn = Callable[[nn.Module, Any, Any], StepOutput]


class ListBatches:
    """A batch source over a fixed list of batches, reshuffled each epoch from ``seed``.

    Under data-parallel training each of ``world`` processes reads its own share: in every
    epoch's order, rank ``r`` takes positions ``r, r + world, ...`` (the tail that does not fill a
    round is dropped), so the ranks together see each batch at most once per epoch.
    """

    stateful = False

    def __init__(
        self, batches: list, shuffle: bool = True, seed: int = 0, rank: int = 0, world: int = 1
    ):
        self.batches = batches
        self.shuffle = shuffle
        self.seed = seed
        self.rank, self.world = rank, world
        if len(batches) // world < 1:
            raise RnnkitError(f"{len(batches)} batches cannot be shared by {world} processes")

    def __len__(self) -> int:
        return len(self.batches) // self.world

    def batch(self, epoch: int, index: int) -> Any:
        position = index * self.world + self.rank
        if not self.shuffle:
            return self.batches[position]
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return self.batches[int(torch.randperm(len(self.batches), generator=g)[position])]


def to_device(batch: Any, device: torch.device) -> Any:
    """``batch`` with every tensor in it (nested tuples and lists too) on ``device``."""
    if isinstance(batch, Tensor):
        return batch.to(device)
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(b, device) for b in batch)
    return batch


def detach_state(state: Any, dtype: torch.dtype | None = None) -> Any:
    """Cut the graph behind a recurrent state (a tensor or a tuple/list of them); with
    ``dtype``, floating tensors also take that dtype (a bfloat16 state from an autocast
    forward goes back to the parameters' float32 before the next batch starts from it)."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        state = state.detach()
        return state.to(dtype) if dtype is not None and state.is_floating_point() else state
    return type(state)(detach_state(s, dtype) for s in state)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loss_fn: LossFn,
    data: Any,
    metrics_fn: Callable[[nn.Module, Any], dict] | None = None,
    autocast_dtype: torch.dtype | None = None,
) -> dict[str, float]:
    """Mean loss over every batch of ``data`` weighted by ``count`` (state carried along a
    stateful source), plus ``metrics_fn``'s figures; keys prefixed ``val_``. The loss runs
    under autocast with ``autocast_dtype`` (the training precision), the metrics as given."""
    was_training = model.training
    param = next(model.parameters())
    device = param.device
    model.eval()
    total, count, state = 0.0, 0, None
    for i in range(len(data)):
        with amp.autocast(device, autocast_dtype):
            out = loss_fn(model, to_device(data.batch(0, i), device), state)
        total += float(out.loss) * out.count
        count += out.count
        state = out.state if getattr(data, "stateful", False) else None
        if state is not None and autocast_dtype is not None:
            state = detach_state(state, param.dtype)
    result = {"val_loss": total / max(count, 1), "val_count": float(count)}
    if metrics_fn is not None:
        result.update({f"val_{k}": float(v) for k, v in metrics_fn(model, data).items()})
    model.train(was_training)
    return result
