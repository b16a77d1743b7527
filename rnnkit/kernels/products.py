"""Which arithmetic runs a mixed-precision layer's matrix products: dispatched on the CPU.

A layer in mixed precision (``rnnkit.nn.precision``: bfloat16/float16 weights and input, or
``torch.autocast``) multiplies 16-bit operands and keeps its gate math, cell state and
weight-gradient accumulation in float32. Two paths compute those products:

- ``rounded``: float32 GEMMs (MKL, the fused kernels' packed weights) on float32 tensors that
  hold the 16-bit values. A bfloat16 x bfloat16 product is exact in float32, the carried state
  is not rounded, and no 16-bit instruction is needed: the fastest choice on a CPU without
  bfloat16 units, where ATen's bfloat16 GEMM runs 10-80x slower than its float32 GEMM.
- ``lowp``: the products in bfloat16/float16 on ATen/oneDNN (``kernels/csrc/lowp.h``), on the
  CPU's matrix units (AMX tiles, AVX-512 BF16): every operand rounded to 16 bits (the carried
  state and the gradients too), float32 accumulation, each product's result rounded once to
  16 bits, as torch.nn's layers under autocast compute. That covers the input projection, the
  per-step recurrent (and LSTM projection) products forward and backward, and dX and dW after
  the loop (``mm``); the bias gradient stays a float32 sum. Only the ``cpu`` kernel has it
  (Elman, LSTM with and without projection, GRU); Jordan networks and the reference kernels
  stay ``rounded``. The bfloat16 one-token LSTM step reads bfloat16 weights on both paths
  (``lstm_step_bf16``: at batch 1 a step is bound by memory, not by the multipliers).

The rule, per product dtype, from what the CPU has (``capability``, read once per process):

- AMX (``amx_bf16``; ``amx_fp16`` for float16): lowp. A bfloat16 GEMM ran 2,173 GFLOP/s against
  344 in float32 at 2048^3 on issue 33's Xeon; float16 by analogy, not measured.
- AVX-512 BF16 without AMX: lowp for a layer whose recurrent product has at least
  ``AVX512_BF16_MIN_FLOPS`` per step (and for products after the loop of that size), rounded
  below it. Measured on an AMD EPYC, one thread, lowp against rounded (bench/lowp_paths.py,
  docs/performance.md): 1.5-1.9x faster from 12.6 MFLOP per step up, 0.56-0.97x at 2.1-2.4
  MFLOP, where the per-step conversions and ATen calls cost more than the faster multiply saves.
- AVX512-FP16 without AMX, for float16: lowp (not measured).
- none of these: rounded.

``$RNNKIT_PRODUCTS`` (``auto``, ``lowp`` or ``rounded``) or ``set_path`` forces either path on
any machine: the lowp path is correct everywhere, only slow without the units.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType

import torch
from torch import Tensor

PATHS = ("lowp", "rounded")
SETTINGS = ("auto", *PATHS)
ENV_VAR = "RNNKIT_PRODUCTS"
LOW_DTYPES = (torch.bfloat16, torch.float16)
_SHORT = {torch.bfloat16: "bf16", torch.float16: "fp16"}
# AVX-512 BF16 without AMX (AMD Zen 4/5, Cooper Lake): the path measured faster there, layer
# for layer (docs/performance.md), with the size below which rounded won.
_AVX512_BF16_PATH = "lowp"
AVX512_BF16_MIN_FLOPS = 1e7

_forced: str | None = None  # set_path's choice; None: $RNNKIT_PRODUCTS, else auto
_current: contextvars.ContextVar[torch.dtype | None] = contextvars.ContextVar(
    "rnnkit_low_products", default=None
)


@cache
def capability() -> frozenset[str]:
    """The CPU's 16-bit multiply features among amx_bf16, amx_fp16, avx512_bf16, avx512_fp16,
    as torch reports them (``torch.cpu``), completed from /proc/cpuinfo where torch has no check."""
    flags: set[str] = set()
    try:
        text = Path("/proc/cpuinfo").read_text()
        line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
        flags = set(line.split(":", 1)[1].split()) if ":" in line else set()
    except OSError:
        pass
    checks = {
        "amx_bf16": "_is_amx_tile_supported",
        "amx_fp16": "_is_amx_fp16_supported",
        "avx512_bf16": "_is_avx512_bf16_supported",
    }
    found = set()
    for name, check in checks.items():
        probe = getattr(torch.cpu, check, None)
        if (probe() if probe is not None else False) or name in flags:
            found.add(name)
    if "avx512_fp16" in flags:
        found.add("avx512_fp16")
    return frozenset(found)


def set_path(path: str | None) -> str | None:
    """Force ``lowp`` or ``rounded`` for this process (None: back to ``$RNNKIT_PRODUCTS`` or
    auto); returns the previous forced path."""
    global _forced
    if path is not None and path not in SETTINGS:
        raise ValueError(f"products path must be one of {SETTINGS}, got {path!r}")
    previous, _forced = _forced, (None if path == "auto" else path)
    return previous


def _setting() -> str:
    if _forced is not None:
        return _forced
    value = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if value not in SETTINGS:
        raise ValueError(f"${ENV_VAR} must be one of {', '.join(SETTINGS)}, got {value!r}")
    return value


def auto_path(low: torch.dtype, caps: frozenset[str] | None = None) -> tuple[str, str]:
    """(path, why) the rule picks for products in ``low`` on a CPU with ``caps``."""
    caps = capability() if caps is None else caps
    if low == torch.bfloat16:
        if "amx_bf16" in caps:
            return "lowp", "this CPU has amx_bf16"
        if "avx512_bf16" in caps:
            return _AVX512_BF16_PATH, "this CPU has avx512_bf16, no AMX"
        return "rounded", "this CPU has neither amx_bf16 nor avx512_bf16"
    if low == torch.float16:
        for flag in ("amx_fp16", "avx512_fp16"):
            if flag in caps:
                return "lowp", f"this CPU has {flag}"
        return "rounded", "this CPU has neither amx_fp16 nor avx512_fp16"
    raise ValueError(f"no low-precision products in {low}")


def path(low: torch.dtype) -> str:
    """``lowp`` or ``rounded``: how products in ``low`` run in this process now."""
    setting = _setting()
    return auto_path(low)[0] if setting == "auto" else setting


def describe(low: torch.dtype = torch.bfloat16) -> str:
    """One line saying which path runs ``low`` products and why (for ``rnnkit bench`` and
    ``--precision auto``)."""
    name = "bfloat16" if low == torch.bfloat16 else "float16"
    setting = _setting()
    chosen, why = auto_path(low)
    if setting != "auto":
        chosen, why = setting, f"forced ({ENV_VAR}={setting} or set_path)"
    how = {
        "lowp": f"{name} GEMMs on ATen/oneDNN, float32 accumulation",
        "rounded": f"float32 GEMMs on {name}-rounded values",
    }[chosen]
    return f"{name} products: {chosen} ({how}; {why})"


@contextlib.contextmanager
def low_products(low: torch.dtype | None) -> Iterator[None]:
    """Within this context, kernels resolved by name (``rnnkit.kernels.get_kernel``) run their
    products in ``low`` where the path for it is ``lowp``: the mixed-precision layers enter it
    around their call (None: plain float32)."""
    token = _current.set(low)
    try:
        yield
    finally:
        _current.reset(token)


def min_flops(low: torch.dtype) -> float:
    """The FLOPs a product (per step, for a loop's) needs for lowp to run it: 0 when forced
    or on AMX, ``AVX512_BF16_MIN_FLOPS`` for bfloat16 on AVX-512 BF16 without AMX."""
    if _setting() != "auto":
        return 0.0
    caps = capability()
    if low == torch.bfloat16 and "amx_bf16" not in caps and "avx512_bf16" in caps:
        return AVX512_BF16_MIN_FLOPS
    return 0.0


def current() -> torch.dtype | None:
    """The 16-bit dtype the enclosing ``low_products`` asked for, if its path is lowp."""
    low = _current.get()
    return low if low is not None and path(low) == "lowp" else None


def mm_low(a: Tensor, b: Tensor, low: torch.dtype, out: Tensor | None = None) -> Tensor:
    """a (m,k) @ b (k,n) for float32 a, b: both rounded to ``low``, one ATen/oneDNN GEMM, the
    result (rounded to ``low`` by ATen) widened to float32, into ``out`` when given."""
    prod = torch.mm(a.to(low), b.to(low))  # (m, n) in low
    if out is None:
        return prod.float()
    return out.copy_(prod)


class LowPrecisionKernel(ModuleType):
    """A kernel whose products run in a 16-bit dtype: the cpu kernel's contract functions with
    ``low`` set, ``mm`` on ATen/oneDNN; everything else is the base kernel's. Its ``name``
    (``cpu+bf16``, ``cpu+fp16``) resolves back to it through ``rnnkit.kernels.get_kernel``."""

    def __init__(self, base: ModuleType, low: torch.dtype) -> None:
        name = f"{base.name}+{_SHORT[low]}"
        super().__init__(name)
        self.name, self.base, self.low = name, base, low
        self.empty = base.empty
        self.jordan_forward, self.jordan_backward = base.jordan_forward, base.jordan_backward
        if hasattr(base, "lstm_step_bf16") and low == torch.bfloat16:
            self.lstm_step_bf16 = base.lstm_step_bf16

    def _low(self, flops: float) -> torch.dtype | None:
        """``low`` for a product of ``flops`` (per step in a loop) big enough for lowp to win
        on this CPU (``min_flops``), else None: float32 on the rounded values."""
        return self.low if flops >= min_flops(self.low) else None

    def mm(self, a: Tensor, b: Tensor, out: Tensor | None = None) -> Tensor:
        if self._low(2.0 * a.shape[0] * a.shape[1] * b.shape[1]) is None:
            return torch.mm(a, b, out=out)
        return mm_low(a, b, self.low, out)

    # The loops decide by the recurrent product's FLOPs per step, 2 B G P, from w_hh (G, P):
    # the forward and the backward of one layer always take the same path.
    def _step(self, batch: int, w_hh: Tensor) -> torch.dtype | None:
        return self._low(2.0 * batch * w_hh.shape[0] * w_hh.shape[1])

    def elman_forward(self, gx, w_hh, *args):
        return self.base.elman_forward(gx, w_hh, *args, low=self._step(gx.shape[1], w_hh))

    def elman_backward(self, dy, dhT, y, h0, w_hh, *args):
        low = self._step(dy.shape[1], w_hh)
        return self.base.elman_backward(dy, dhT, y, h0, w_hh, *args, low=low)

    def lstm_forward(self, x, w_ih, w_hh, *args):
        return self.base.lstm_forward(x, w_ih, w_hh, *args, low=self._step(x.shape[1], w_hh))

    def lstm_backward(self, dy, dhT, dcT, gates, c, c0, w_hh, *args):
        low = self._step(dy.shape[1], w_hh)
        return self.base.lstm_backward(dy, dhT, dcT, gates, c, c0, w_hh, *args, low=low)

    def gru_forward(self, x, w_ih, b_ih, w_hh, *args):
        low = self._step(x.shape[1], w_hh)
        return self.base.gru_forward(x, w_ih, b_ih, w_hh, *args, low=low)

    def gru_backward(self, dy, dhT, y, h0, gates, ghn, w_hh, *args):
        low = self._step(dy.shape[1], w_hh)
        return self.base.gru_backward(dy, dhT, y, h0, gates, ghn, w_hh, *args, low=low)


_variants: dict[tuple[str, torch.dtype], LowPrecisionKernel] = {}


def variant(base: ModuleType, low: torch.dtype) -> LowPrecisionKernel:
    """The one ``LowPrecisionKernel`` of ``base`` (the cpu kernel) for ``low``."""
    key = (base.name, low)
    if key not in _variants:
        _variants[key] = LowPrecisionKernel(base, low)
    return _variants[key]


def low_of(name: str) -> torch.dtype | None:
    """The dtype a kernel name's suffix asks for (``cpu+bf16`` -> bfloat16), else None."""
    for low, short in _SHORT.items():
        if name.endswith(f"+{short}"):
            return low
    return None
