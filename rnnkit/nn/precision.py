r"""Mixed precision: bfloat16 and float16 parameters, inputs and ``torch.autocast``.

A layer runs in *mixed precision* when its weights and input are bfloat16 or float16, or when
``torch.autocast`` is on for the input's device and they are float32. Then:

- the **operands of the matrix products** (weights, biases and each layer's input) take the
  low-precision values: float32 master weights are rounded to bfloat16/float16 as autocast
  would round them, low-precision weights are used as they are;
- the products **accumulate in float32**, and the gate math, the cell state and the carried
  hidden state stay **float32** through the whole sequence (the fused float32 kernels run on
  the rounded values: a bfloat16 x bfloat16 product is exact in float32, so this is the
  arithmetic of a bfloat16 matrix unit that accumulates in float32, with the recurrent state
  kept in float32 rather than rounded at every step);
- **weight gradients are computed and accumulated in float32**: the gradient of a float32
  master weight passes the rounding unchanged (straight through, never rounded to 16 bits);
  a bfloat16/float16 parameter gets its gradient rounded once, to its own dtype;
- the **outputs take the dtypes torch.nn returns** in the same situation (``output_dtypes``).

On CPUs without bfloat16 matrix instructions (no AMX, no AVX-512 BF16) ATen's bfloat16 GEMM
runs 10-80x slower than its float32 GEMM, so the float32 products on rounded values are also
the fastest way to get this arithmetic there; see docs/performance.md for what was measured.
Where the CPU has bfloat16/float16 units (AMX, AVX-512 BF16) the products run in the 16-bit
dtype on ATen/oneDNN instead, with the state and gradients rounded for them and each product's
result rounded once to 16 bits, as torch.nn computes under autocast: the weight gradients dW
are then bfloat16 values accumulated in float32 (``mixed_compute``; ``rnnkit.kernels.products``
has the rule and the setting that forces either path).

Output dtypes under ``torch.autocast(device, dtype=L)`` with float32 weights follow torch.nn,
whose layers decompose into autocast's low-precision products and float32 element-wise math
(x the input dtype, ``promote`` torch's type promotion):

| layer | outputs |
|---|---|
| RNN, RNNCell, JordanRNN | L (the state is an activation of a product) |
| GRU, GRUCell, LSTMCell | promote(L, x) (the state is carried through element-wise math) |
| LSTM with proj_size | output and h_n: L (a product); c_n: promote(L, x) |
| LSTM, padded or unbatched input | L, as torch.nn's oneDNN LSTM returns on CPU |
| LSTM, PackedSequence input | promote(L, x) (torch.nn's packed LSTM does not use oneDNN) |

where x stands for the input's dtype promoted with the initial states' when they are given
(torch.nn under autocast accepts a bfloat16 state with a float32 input, and so does rnnkit).
Without autocast every output has the dtype of the input and weights.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from rnnkit.kernels import products

LOW_PRECISION = (torch.bfloat16, torch.float16)


@dataclass(frozen=True)
class Mixed:
    """How one call runs: ``low`` is the product operands' dtype, ``given`` the input's dtype,
    ``autocast`` whether autocast chose ``low`` (else the tensors themselves are ``low``)."""

    low: torch.dtype
    given: torch.dtype
    autocast: bool

    def carried(self) -> torch.dtype:
        """The dtype torch.nn returns for a state carried through element-wise math."""
        return torch.promote_types(self.low, self.given) if self.autocast else self.low


def plan(x: Tensor, weight: Tensor, states: tuple[Tensor, ...] = ()) -> Mixed | None:
    """The mixed-precision plan for input x, a layer weight and the initial states given
    (they decide the dtype of a carried state, as in torch.nn); None for a plain run.

    float64 never runs mixed (autocast leaves float64 alone, as torch.nn does).
    """
    if not (x.is_floating_point() and weight.is_floating_point()):
        return None
    if torch.float64 in (x.dtype, weight.dtype):
        return None
    device = x.device.type
    if torch.is_autocast_enabled(device):
        low = torch.get_autocast_dtype(device)
        if low in LOW_PRECISION:
            given = x.dtype
            for s in states:
                given = torch.promote_types(given, s.dtype) if s is not None else given
            return Mixed(low, given if states else x.dtype, True)
    if x.dtype in LOW_PRECISION and weight.dtype == x.dtype:
        return Mixed(x.dtype, x.dtype, False)
    return None


class _RoundThrough(torch.autograd.Function):
    """t rounded to ``low`` and back to t's dtype; the gradient passes unchanged."""

    @staticmethod
    def forward(ctx, t: Tensor, low: torch.dtype) -> Tensor:
        return t.to(low).to(t.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return grad, None


# Rounded copies of weights for calls without autograd (inference, generation): a weight is
# rounded once per update (its version counter), not once per token. Keyed by id() with a
# weak reference that drops the entry with the weight (tensors compare element-wise, so
# they cannot be the keys of a WeakKeyDictionary).
_rounded: dict[tuple, tuple[weakref.ref, tuple, Tensor]] = {}


def operand(t: Tensor | None, mixed: Mixed) -> Tensor | None:
    """A product operand as float32 holding ``mixed.low`` values (None stays None).

    float32 tensors are rounded with a straight-through gradient; bfloat16/float16 tensors are
    widened exactly (autograd rounds their gradient once, to their dtype).
    """
    if t is None:
        return None
    if t.dtype in LOW_PRECISION and (t.dtype == mixed.low or not mixed.autocast):
        return t.float()
    if t.dtype in LOW_PRECISION:  # another 16-bit dtype than autocast's: round through float32
        return t.float().to(mixed.low).float()
    if torch.is_grad_enabled() and t.requires_grad:
        if torch._C._are_functorch_transforms_active():
            return t.to(mixed.low).float()  # Functions without vmap rules cannot run there
        return _RoundThrough.apply(t, mixed.low)
    return t.to(mixed.low).float()


def weight_operand(w: Tensor | None, mixed: Mixed) -> Tensor | None:
    """``operand`` for a parameter, cached across calls that record no gradient."""
    if w is None or (torch.is_grad_enabled() and w.requires_grad):
        return operand(w, mixed)
    return _cached(w, ("f32", mixed.low, mixed.autocast), lambda: operand(w, mixed))


def low_weight(w: Tensor | None, mixed: Mixed) -> Tensor | None:
    """A parameter in the low dtype itself (for kernels that read 16-bit weights), cached
    like ``weight_operand``; only for calls that record no gradient."""
    if w is None or w.dtype == mixed.low:
        return w
    return _cached(w, ("low", mixed.low), lambda: w.detach().to(mixed.low))


def _cached(w: Tensor, kind: tuple, make) -> Tensor:
    key = (w._version, w.data_ptr(), w.dtype, *kind)
    ident = (id(w), kind)
    hit = _rounded.get(ident)
    if hit is not None and hit[0]() is w and hit[1] == key:
        return hit[2]
    value = make()
    _rounded[ident] = (weakref.ref(w, lambda _: _rounded.pop(ident, None)), key, value)
    return value


def state(t: Tensor | None) -> Tensor | None:
    """A carried state (h0, c0, o0) in float32, unrounded."""
    return None if t is None else t.float()


def autocast_off(device_type: str):
    """A context in which rnnkit's own products run as written, in float32, not autocast's."""
    return torch.autocast(device_type, enabled=False)


@contextlib.contextmanager
def mixed_compute(device_type: str, mixed: Mixed) -> Iterator[None]:
    """The context of a mixed-precision layer call: autocast off (``autocast_off``), and the
    products in ``mixed.low`` on the CPU's 16-bit units where the dispatch says so
    (``rnnkit.kernels.products``: the cpu kernel then multiplies in bfloat16/float16 on
    ATen/oneDNN; elsewhere the float32 products on rounded values described above)."""
    with autocast_off(device_type), products.low_products(mixed.low):
        yield
