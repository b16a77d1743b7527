"""Token streams for truncated BPTT: continuity across chunks, shifted targets, rank shares."""

import pytest
import torch

from rnnkit.data import TokenStream, eval_stream, split_tail
from rnnkit.errors import RnnkitError


def test_chunks_continue_each_other_and_targets_are_shifted():
    ids = torch.arange(1000)
    s = TokenStream(ids, batch_size=4, seq_len=7)
    rows = [[] for _ in range(4)]
    for i in range(len(s)):
        x, y = s.batch(0, i)
        assert torch.equal(y[:, :-1], x[:, 1:])
        for r in range(4):
            rows[r] += x[r].tolist()
    # Each row reads a contiguous run of the text, in order, with no gap between chunks.
    for r in range(4):
        assert rows[r] == list(range(r * 250, r * 250 + 249))


def test_ranks_split_the_global_batch_exactly():
    ids = torch.arange(5003)
    whole = TokenStream(ids, batch_size=4, seq_len=10)
    parts = [TokenStream(ids, 4, 10, rank=r, world_size=2) for r in range(2)]
    assert len(parts[0]) == len(parts[1]) == len(whole)
    for i in range(len(whole)):
        x, y = whole.batch(0, i)
        xs = torch.cat([p.batch(0, i)[0] for p in parts])
        assert torch.equal(x, xs)


def test_too_short_corpus_and_bad_split():
    with pytest.raises(RnnkitError, match="one batch needs"):
        TokenStream(torch.arange(50), batch_size=8, seq_len=10)
    with pytest.raises(RnnkitError, match="multiple"):
        TokenStream(torch.arange(500), batch_size=3, seq_len=10, world_size=2)
    with pytest.raises(RnnkitError):
        split_tail(torch.arange(100), 1.5)


def test_eval_stream_covers_short_tails():
    s = eval_stream(torch.arange(30), batch_size=32, seq_len=100)
    n = sum(s.batch(0, i)[1].numel() for i in range(len(s)))
    assert n == s.num_tokens > 0
