"""Splitting examples into train / validation / test, and cutting them into padded batches."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rnnkit.errors import RnnkitError


def split_indices(n: int, val: float, test: float, seed: int) -> tuple[list, list, list]:
    """A seeded shuffle of range(n) cut into train / validation / test index lists.

    The validation and test parts hold at least one example each; the training part is what is
    left and must not be empty.
    """
    if not (0 < test < 1 and 0 < val < 1 and val + test < 1):
        raise RnnkitError(f"val and test must be fractions with val + test < 1, got {val}, {test}")
    order = np.random.default_rng(seed).permutation(n).tolist()
    n_test, n_val = max(1, round(n * test)), max(1, round(n * val))
    if n - n_test - n_val < 1:
        raise RnnkitError(f"{n} examples are too few to split into train, val and test")
    return order[n_test + n_val :], order[n_test : n_test + n_val], order[:n_test]


def by_length(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (sorted, then cut): little padding.

    Sorting is stable, so the order of the examples within the returned batches is the same
    every time; callers that report per-example results use it to put them back in order.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def by_tokens(lengths: Sequence[int], max_tokens: int) -> list[list[int]]:
    """Indices sorted by length and cut into batches whose padded size (rows times the longest)
    stays within ``max_tokens`` (fairseq's ``--max-tokens``): every step then costs about the
    same, short examples come many to a batch and long ones few. An example longer than
    ``max_tokens`` gets a batch of its own."""
    if max_tokens < 1:
        raise RnnkitError(f"max_tokens must be at least 1, got {max_tokens}")
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    groups: list[list[int]] = []
    for i in order:  # ascending: the newest example is the batch's longest
        if not groups or lengths[i] * (len(groups[-1]) + 1) > max_tokens:
            groups.append([])
        groups[-1].append(i)
    return groups


def batched(
    items: Sequence[Any], batch_size: int, length: Callable[[Any], int], make: Callable,
    max_tokens: int = 0,
) -> tuple[list, list[int]]:  # fmt: skip
    """``make(list of items)`` for each length-sorted group, and the item order they follow:
    ``batch_size`` items a group, or with ``max_tokens`` above 0 as many as fit that budget of
    padded length (``by_tokens``)."""
    lengths = [length(x) for x in items]
    groups = by_tokens(lengths, max_tokens) if max_tokens else by_length(lengths, batch_size)
    return [make([items[i] for i in g]) for g in groups], [i for g in groups for i in g]
