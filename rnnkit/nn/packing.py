"""PackedSequence data <-> the padded, length-sorted (T, B, F) layout the cells run on.

``PackedSequence.data`` holds, step after step, the rows of the sequences still running at that
step, longest sequence first: step t contributes rows ``[:batch_sizes[t]]``, starting at
``starts[t] = batch_sizes[0] + ... + batch_sizes[t-1]``. So (t, b) with ``b < batch_sizes[t]``
sits at packed row ``starts[t] + b``, and both directions are one gather of fixed size: no
boolean-mask indexing, whose output size depends on the values, so ``torch.compile`` and
``torch.export`` trace them without a graph break.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch._library.fake_impl import allocate_size


def batch_size(batch_sizes: Tensor, sorted_indices: Tensor | None, state: Tensor | None) -> int:
    """B, the number of sequences: ``batch_sizes[0]``.

    A compiler cannot read a value while it traces, so there B comes from a shape that holds
    it: ``sorted_indices`` (B,), else the initial state given (·, B, ·), else it is the
    output of an operator whose size the compiler learns only when it runs.
    """
    if not torch.compiler.is_compiling():
        return int(batch_sizes[0])
    if sorted_indices is not None:
        return sorted_indices.shape[0]
    if state is not None and state.dim() == 3:
        return state.shape[1]
    return first_batch_size(batch_sizes)


@torch.library.custom_op("rnnkit::first_batch_size", mutates_args=())
def first_batch_size(batch_sizes: Tensor) -> int:
    """batch_sizes[0], as an operator (for tracing: a size known only at run time)."""
    return int(batch_sizes[0])


@first_batch_size.register_fake
def _(batch_sizes):
    """A new size known only at run time (an unbacked SymInt, at least 1).

    ``ctx.new_dynamic_size`` makes one only under ``fullgraph=True`` or ``torch.export``:
    plain ``torch.compile`` (and ``torch._dynamo.explain``) refuse it unless the process-wide
    ``capture_dynamic_output_shape_ops`` is set, and the refusal, inside the layer's error
    context, made Dynamo give up the whole forward (4 graph breaks on packed input). The
    size is a scalar, not a tensor of data-dependent shape, and every backend that takes
    Dynamo's graphs with unbacked sizes takes it; so it is made from the shape environment
    directly, as ``new_dynamic_size`` would (``allocate_size``), whatever that flag says.
    """
    shape_env = getattr(batch_sizes, "fake_mode", None) and batch_sizes.fake_mode.shape_env
    if shape_env is None:  # fake tensors without symbolic shapes: the usual refusal
        return torch.library.get_ctx().new_dynamic_size(min=1)
    return allocate_size(shape_env, min_val=1)


def active_mask(batch_sizes: Tensor, batch: int, device) -> Tensor:
    """(T, B) bool: row b runs at step t."""
    rows = torch.arange(batch, device=device)  # (B,)
    return rows < batch_sizes.to(device).unsqueeze(1)  # (T, B)


def _positions(batch_sizes: Tensor, mask: Tensor) -> Tensor:
    """(T, B) int64: the packed row of (t, b), meaningful where ``mask``."""
    sizes = batch_sizes.to(mask.device)
    starts = torch.cumsum(sizes, 0) - sizes  # (T,)
    return starts[:, None] + torch.arange(mask.shape[1], device=mask.device)  # (T, B)


def unpack_sorted(data: Tensor, batch_sizes: Tensor, mask: Tensor) -> Tensor:
    """Packed data (N, F) -> padded, sorted (T, B, F) with zeros after each sequence's end."""
    T, B = mask.shape
    rows = torch.where(mask, _positions(batch_sizes, mask), 0)  # (T, B); padding reads row 0
    padded = data.index_select(0, rows.flatten()).view(T, B, data.shape[-1])  # (T, B, F)
    return torch.where(mask[..., None], padded, 0)


def pack_sorted(padded: Tensor, batch_sizes: Tensor, rows: int) -> Tensor:
    """Padded, sorted (T, B, F) -> packed data (N, F); ``rows`` is N = sum(batch_sizes), the
    size of the packed data the input came in (a shape, known without reading data)."""
    T, B, F = padded.shape
    sizes = batch_sizes.to(padded.device)
    ends = torch.cumsum(sizes, 0)  # (T,): step t is packed rows [ends[t] - sizes[t], ends[t])
    n = torch.arange(rows, device=padded.device)  # (N,)
    t = torch.searchsorted(ends, n, right=True)  # (N,): the step of packed row n
    b = n - (ends - sizes)[t]  # (N,): its row in the batch
    return padded.reshape(T * B, F).index_select(0, t * B + b)  # (N, F)


def last_steps(padded: Tensor, mask: Tensor) -> Tensor:
    """(T, B, F) -> (B, F): each row's value at its own last step."""
    lengths = mask.sum(0)  # (B,)
    rows = torch.arange(mask.shape[1], device=mask.device)
    return padded[lengths - 1, rows]
