"""The trainer's ``precision`` setting: fp32, bf16 (autocast) or auto.

``bf16`` runs every forward pass (training and validation) under
``torch.autocast(device, dtype=torch.bfloat16)``: the matrix products take bfloat16 operands,
rnnkit's recurrent layers keep their gate math and cell state in float32
(``rnnkit.nn.precision``). What stays float32 whatever the setting: the parameters (master
weights), their gradients, the loss (cast to float32 before backward) and the optimiser state.
The backward pass runs outside autocast, as torch recommends. ``auto`` picks bf16 where the
hardware multiplies bfloat16 natively (a CPU with AMX or AVX-512 BF16; a CUDA GPU that supports
bfloat16) and fp32 elsewhere, and says which once at the start, with the path the recurrent
layers' bfloat16 products take on a CPU (``rnnkit.kernels.products``).
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import torch

from rnnkit.kernels import products

PRECISIONS = ("fp32", "bf16", "auto")
_BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_bf16_flags() -> list[str]:
    """The CPU's bfloat16 matrix/vector instruction flags (amx_bf16, avx512_bf16) present."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return [f for f in _BF16_CPU_FLAGS if f in flags]
    return []


def resolve(precision: str, device: torch.device) -> tuple[torch.dtype | None, str]:
    """(autocast dtype or None for float32, a one-line account of the choice). On a CPU the
    line also says how the recurrent layers' bfloat16 products run (``rnnkit.kernels.products``:
    on the CPU's bfloat16 units, or as float32 products on rounded values)."""
    dtype, text = _resolve(precision, device)
    if dtype is not None and device.type == "cpu":
        text += f"; {products.describe(dtype)}"
    return dtype, text


def _resolve(precision: str, device: torch.device) -> tuple[torch.dtype | None, str]:
    if precision == "fp32":
        return None, "precision fp32"
    if precision == "bf16":
        return torch.bfloat16, "precision bf16 (autocast; weights, gradients, loss, optimiser fp32)"
    if device.type == "cuda":
        native = torch.cuda.is_bf16_supported()
        why = "this GPU supports bfloat16" if native else "this GPU lacks bfloat16"
    else:
        flags = cpu_bf16_flags()
        native = bool(flags)
        why = (
            f"this CPU has {', '.join(flags)}"
            if native
            else "this CPU has neither amx_bf16 nor avx512_bf16"
        )
    return (
        torch.bfloat16 if native else None
    ), f"precision auto -> {'bf16' if native else 'fp32'}: {why}"


def autocast(device: torch.device, dtype: torch.dtype | None):
    """The forward-pass context for a resolved precision (a no-op for float32)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def announce(message: str) -> None:
    """Say the precision once, on stderr (stdout may carry --json)."""
    print(f"rnnkit: {message}", file=sys.stderr, flush=True)
