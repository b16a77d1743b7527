"""Batches of similar lengths: a fixed number of examples (``by_length``) or a budget of padded
tokens (``by_tokens``, fairseq's --max-tokens), and the text pairs' training batches built on
them."""

from __future__ import annotations

import random

import pytest

from rnnkit.data.splits import by_length, by_tokens
from rnnkit.errors import RnnkitError


def test_token_budget_batches_hold_every_example_once_within_the_budget():
    rng = random.Random(0)
    lengths = [rng.randint(1, 60) for _ in range(500)]
    groups = by_tokens(lengths, 400)
    assert sorted(i for g in groups for i in g) == list(range(500))
    for g in groups:
        assert len(g) * max(lengths[i] for i in g) <= 400  # padded size within the budget
    # short examples come many to a batch, long ones few
    sizes = {min(lengths[i] for i in g): len(g) for g in groups}
    assert sizes[min(sizes)] > sizes[max(sizes)]
    # greedy: adding the next example to any batch would have gone over the budget
    for g, nxt in zip(groups, groups[1:], strict=False):
        assert (len(g) + 1) * lengths[nxt[0]] > 400


def test_an_example_over_the_budget_gets_a_batch_of_its_own():
    assert by_tokens([3, 50, 4, 2], 10) == [[3, 0], [2], [1]]  # 2x3 fits, 3x4 would not
    with pytest.raises(RnnkitError, match="max_tokens"):
        by_tokens([1, 2], 0)


def test_fixed_batches_are_unchanged():
    assert by_length([5, 1, 3, 2], 2) == [[1, 3], [2, 0]]


def test_text_pairs_train_in_token_budget_batches():
    from rnnkit.runs.driver import make_task
    from rnnkit.tasks.base import Splits
    from rnnkit.tasks.text.base import fit_side

    pairs = [(" ".join(["a"] * n), " ".join(["b"] * (n % 7 + 1))) for n in range(1, 80)]
    task = make_task("translate", {"tokens": "word", "batch_tokens": 120}, {})
    task.src_tok = fit_side([s for s, _ in pairs], "word", 50)
    task.tgt_tok = fit_side([t for _, t in pairs], "word", 50)
    train, _ = task.batch_sources(Splits(pairs, pairs[:3], pairs[:3], {}), 0, 1, 0)
    batches = [train.batch(0, i) for i in range(len(train))]
    assert sum(b[0].shape[0] for b in batches) == len(pairs)
    for src, src_len, _, tgt_len in batches:  # rows x the longest pair (end token included)
        assert len(src) * int((src_len + tgt_len + 1).max()) <= 120 or len(src) == 1
    assert len({b[0].shape[0] for b in batches}) > 1  # rows vary with length
