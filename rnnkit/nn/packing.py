"""PackedSequence data <-> the padded, length-sorted (T, B, F) layout the cells run on.

``PackedSequence.data`` holds, step after step, the rows of the sequences still running at that
step, longest sequence first: step t contributes rows ``[:batch_sizes[t]]``. The mask
``mask[t, b] = b < batch_sizes[t]`` lists exactly those (t, b) pairs in row-major order, so one
masked scatter builds the padded tensor and one masked gather packs the outputs back.
"""

from __future__ import annotations

import torch
from torch import Tensor


def active_mask(batch_sizes: Tensor, device) -> Tensor:
    """(T, B) bool: row b runs at step t."""
    rows = torch.arange(int(batch_sizes[0]), device=device)  # (B,)
    return rows < batch_sizes.to(device).unsqueeze(1)  # (T, B)


def unpack_sorted(data: Tensor, mask: Tensor) -> Tensor:
    """Packed data (N, F) -> padded, sorted (T, B, F) with zeros after each sequence's end."""
    T, B = mask.shape
    padded = data.new_zeros(T, B, data.shape[-1])  # (T, B, F)
    padded[mask] = data
    return padded


def pack_sorted(padded: Tensor, mask: Tensor) -> Tensor:
    """Padded, sorted (T, B, F) -> packed data (N, F)."""
    return padded[mask]


def last_steps(padded: Tensor, mask: Tensor) -> Tensor:
    """(T, B, F) -> (B, F): each row's value at its own last step."""
    lengths = mask.sum(0)  # (B,)
    rows = torch.arange(mask.shape[1], device=mask.device)
    return padded[lengths - 1, rows]
