"""Token streams for truncated BPTT: one long sequence cut into parallel rows and chunks.

The ids are laid out as ``batch_size`` rows that each continue the text without a break::

    ids[0 .. n)        -> row 0
    ids[n .. 2n)       -> row 1      ...        (batch_size, n)

Chunk ``i`` holds columns ``[i*T, i*T + T)`` as input and the same columns shifted by one as
targets, so the recurrent state at the end of chunk ``i`` is the right initial state for chunk
``i + 1`` (the Trainer carries it over and detaches it). Under data-parallel training the
``batch_size`` rows are the *global* batch and rank ``r`` reads rows ``[r*b, (r+1)*b)`` with
``b = batch_size / world_size``: N processes then see exactly the tokens one process would.
"""

from __future__ import annotations

from torch import Tensor

from rnnkit.errors import RnnkitError


class TokenStream:
    """A ``BatchSource`` of ``(x, y)`` chunks, each ``(b, T)`` int64, for one rank.

    ``stateful = True`` tells the Trainer to carry the recurrent state from chunk to chunk.
    """

    stateful = True

    def __init__(
        self,
        ids: Tensor,
        batch_size: int,
        seq_len: int,
        rank: int = 0,
        world_size: int = 1,
        name: str = "training",
    ):
        if batch_size % world_size:
            raise RnnkitError(
                f"--batch-size {batch_size} must be a multiple of the process count {world_size}"
            )
        n = len(ids) // batch_size  # tokens per row
        if n < seq_len + 1:
            raise RnnkitError(
                f"the {name} text has {len(ids)} tokens but one batch needs "
                f"batch-size x (seq-len + 1) = {batch_size * (seq_len + 1)}: give a longer text "
                "or a smaller --batch-size / --seq-len"
            )
        b = batch_size // world_size
        rows = ids[: batch_size * n].view(batch_size, n)  # (batch_size, n)
        self.data = rows[rank * b : (rank + 1) * b].contiguous()  # (b, n)
        self.seq_len = seq_len
        self.num_chunks = (n - 1 + seq_len - 1) // seq_len  # the last chunk may be shorter

    def __len__(self) -> int:
        return self.num_chunks

    def batch(self, epoch: int, index: int) -> tuple[Tensor, Tensor]:
        start = index * self.seq_len
        end = min(start + self.seq_len, self.data.shape[1] - 1)
        x = self.data[:, start:end].long()  # (b, T); stored compact (id_dtype), used as int64
        y = self.data[:, start + 1 : end + 1].long()  # (b, T)
        return x, y

    @property
    def num_tokens(self) -> int:
        """Target tokens per pass over this rank's share."""
        return self.data.shape[0] * (self.data.shape[1] - 1)


def split_tail(ids: Tensor, fraction: float, min_tokens: int = 2) -> tuple[Tensor, Tensor]:
    """Split ``ids`` into (head, tail) with the last ``fraction`` of tokens held out."""
    if not 0 < fraction < 1:
        raise RnnkitError(f"validation fraction must be in (0, 1), got {fraction}")
    n_val = max(min_tokens, int(len(ids) * fraction))
    if len(ids) - n_val < min_tokens:
        raise RnnkitError(
            f"the text is too short to hold out a validation tail ({len(ids)} tokens)"
        )
    return ids[:-n_val], ids[-n_val:]


def eval_stream(
    ids: Tensor, batch_size: int, seq_len: int, name: str = "validation"
) -> TokenStream:
    """A stream over all of ``ids`` for evaluation, with as many rows as fit (<= batch_size)."""
    rows = max(1, min(batch_size, (len(ids) - 1) // (seq_len + 1)))
    if len(ids) // rows < 2:
        raise RnnkitError(f"the {name} text has {len(ids)} tokens, too few to evaluate")
    return TokenStream(ids, rows, min(seq_len, len(ids) // rows - 1), name=name)
