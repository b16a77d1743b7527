r"""Long-memory benchmarks: the adding problem and the copy task, generated on the fly.

Adding problem (Hochreiter & Schmidhuber 1997, in the form of Le et al. 2015): each step
carries a pair (v_t, m_t) with v_t ~ U(0, 1); exactly two markers m_t = 1, one at a uniform
position in the first half of the sequence and one in the second half. The target is the sum
of the two marked values. Predicting the mean, 1, scores MSE = Var(v_a + v_b) = 2/12 ~ 0.167;
the task counts as solved below 0.01.

Copy task (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016): ``n_copy`` symbols drawn
from ``n_symbols`` (ids 1..n_symbols), then ``delay - 1`` blanks (id 0), a delimiter
(id n_symbols + 1) and ``n_copy`` blanks; the target is blanks for the first delay + n_copy
steps, then the symbols again. A memoryless model is right on 1/n_symbols of the copied
symbols; the task counts as solved above 0.99 per-symbol accuracy on them.
"""

from __future__ import annotations

import torch
from torch import Tensor

TASKS = ("adding", "copy")
ADDING_SOLVED_MSE = 0.01
COPY_SOLVED_ACCURACY = 0.99
N_SYMBOLS = 8
N_COPY = 10


def adding_batch(batch: int, length: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """-> inputs (B, T, 2) of (value, marker), targets (B,) the sum of the marked values."""
    values = torch.rand(batch, length, generator=g)  # (B, T)
    half = length // 2
    first = torch.randint(0, half, (batch,), generator=g)  # (B,)
    second = torch.randint(half, length, (batch,), generator=g)  # (B,)
    markers = torch.zeros(batch, length)  # (B, T)
    rows = torch.arange(batch)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    target = values[rows, first] + values[rows, second]  # (B,)
    return torch.stack([values, markers], 2), target


def copy_batch(
    batch: int,
    delay: int,
    g: torch.Generator,
    n_symbols: int = N_SYMBOLS,
    n_copy: int = N_COPY,
) -> tuple[Tensor, Tensor]:
    """-> input ids (B, delay + 2 n_copy), target ids (same shape); see the module docstring."""
    total = delay + 2 * n_copy
    symbols = torch.randint(1, n_symbols + 1, (batch, n_copy), generator=g)  # (B, n_copy)
    x = torch.zeros(batch, total, dtype=torch.long)  # (B, T_total)
    x[:, :n_copy] = symbols
    x[:, n_copy + delay - 1] = n_symbols + 1
    y = torch.zeros(batch, total, dtype=torch.long)  # (B, T_total)
    y[:, -n_copy:] = symbols
    return x, y


def make_batch(task: str, batch: int, length: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """One batch of ``task`` at ``length`` (the adding sequence length or the copy delay)."""
    return adding_batch(batch, length, g) if task == "adding" else copy_batch(batch, length, g)


def input_size(task: str) -> int:
    """Features per step: (value, marker) for adding; one-hot blank/symbols/delimiter for copy."""
    return 2 if task == "adding" else N_SYMBOLS + 2


def output_size(task: str) -> int:
    return 1 if task == "adding" else N_SYMBOLS + 2


class GeneratedBatches:
    """A Trainer batch source of freshly generated batches, reproducible from (seed, epoch, i).

    ``len`` is the number of batches per epoch; every (epoch, index) gives a different batch,
    so the training stream never repeats. Fixed sets (validation, test) use ``epochs=1``.
    """

    stateful = False

    def __init__(self, task: str, length: int, batch_size: int, n_batches: int, seed: int):
        self.task, self.length, self.batch_size = task, length, batch_size
        self.n_batches, self.seed = n_batches, seed

    def __len__(self) -> int:
        return self.n_batches

    def batch(self, epoch: int, index: int) -> tuple[Tensor, Tensor]:
        g = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) * 1_000_003 + index)
        return make_batch(self.task, self.batch_size, self.length, g)
