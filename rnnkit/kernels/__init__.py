"""The time loop: one layer, one direction, over a whole sequence.

Every kernel implementation (``reference`` in plain PyTorch ops, ``cpu`` as a C++ extension)
provides the same eight functions with the same arguments, and ``empty``, the allocator for
the large products around the loop. The weight and input gradients after the loop are *not*
the kernel's job: the autograd Functions in ``rnnkit.cells`` do them as single large matrix
products. The LSTM and GRU forward kernels take x, the input weight and its bias rather than
precomputed input pre-activations, so that a kernel may fuse x_t U^T into the loop (the C++
kernels do: the (T,B,G) input pre-activations then never go through memory). The Elman and
Jordan forward kernels take gx = x U^T + biases, one product before the loop: for Elman
(G = H) the fused form measured no faster.

Symbols: T steps, B batch, I input features, H hidden units, P projected size (LSTM with
``proj_size``; P = H otherwise), O output size (Jordan).

Variable lengths. ``batch_sizes`` is ``None`` (every row runs every step) or a CPU int64
tensor of shape (T,), non-increasing, as in ``PackedSequence``: at step t only rows
``[:batch_sizes[t]]`` are active. Inactive rows keep their state unchanged and their outputs
are zero. With ``reverse=True`` the loop runs t = T-1 .. 0, so a row of length L starts at
t = L-1 from its initial state: a single state buffer whose active prefix is updated gives
the right answer in both directions, with no padding work.

Arguments, shapes and returns (``save=False`` returns ``None`` for the saved tensors; only
inference may pass it):

    elman_forward(gx (T,B,H), w_hh (H,H), h0 (B,H), batch_sizes, reverse, relu, save)
        -> y (T,B,H), hT (B,H)
        gx = x U^T + b_ih + b_hh;  h_t = f(gx_t + h_{t-1} W^T)
    elman_backward(dy (T,B,H), dhT (B,H), y (T,B,H), h0 (B,H), w_hh, batch_sizes, reverse, relu)
        -> dg (T,B,H), dh0 (B,H)          dg = dL/d(pre-activation)

    lstm_forward(x (T,B,I), w_ih (4H,I), w_hh (4H,P), bias (4H) | None, w_hr (P,H) | None,
                 h0 (B,P), c0 (B,H), batch_sizes, reverse, save)
        -> y (T,B,P), hT (B,P), cT (B,H), gates (T,B,4H) | None, c (T,B,H) | None
        bias = b_ih + b_hh; gates hold the activated i, f, g, o; c the cell state after each step
    lstm_backward(dy (T,B,P), dhT (B,P), dcT (B,H), gates, c, c0 (B,H), w_hh, w_hr,
                  batch_sizes, reverse)
        -> dg (T,B,4H), dh0 (B,P), dc0 (B,H), dr (T,B,P) | None
        dr = dL/dh_t in full (external + recurrent), for dW_hr = dr^T (o * tanh c)

    gru_forward(x (T,B,I), w_ih (3H,I), b_ih (3H) | None, w_hh (3H,H), b_hh (3H) | None,
                h0 (B,H), batch_sizes, reverse, save)
        -> y (T,B,H), hT (B,H), gates (T,B,3H) | None, ghn (T,B,H) | None
        the biases stay apart: the reset gate multiplies W_hn h + b_hn, not b_in;
        gates hold the activated r, z, n; ghn = W_hn h_{t-1} + b_hn
    gru_backward(dy, dhT, y, h0, gates, ghn, w_hh, batch_sizes, reverse)
        -> dgx (T,B,3H), dgh (T,B,3H), dh0 (B,H)
        dgx = dL/d(x-side pre-activations), dgh = dL/d(h-side pre-activations W_hh h + b_hh)

    jordan_forward(gx (T,B,H), w_ho (H,O), w_out (O,H), b_out (O) | None, o0 (B,O),
                   batch_sizes, reverse, relu, save)
        -> h (T,B,H), o (T,B,O), oT (B,O)
        gx = x U^T + b_ih + b_ho;  h_t = f(gx_t + o_{t-1} W^T);  o_t = h_t V^T + c
    jordan_backward(dh (T,B,H), do (T,B,O), doT (B,O), h, o, o0, w_ho, w_out, batch_sizes,
                    reverse, relu)
        -> da (T,B,H), dout (T,B,O), do0 (B,O)
        da = dL/d(pre-activation); dout = dL/do_t in full (external + recurrent)

    empty(shape, like) -> an uninitialised tensor of like's dtype and device; the cpu kernel
        serves it (and its own (T,B,·) results) from a cache of buffers nothing holds any more
    mm(a (m,k), b (k,n), out=None) -> a @ b: the products around the loop (input projection,
        dX, dW), which the cells' operators run through the kernel so that a kernel with
        16-bit products runs them in its dtype too

All tensors are contiguous and share one floating dtype and device.

Mixed precision. ``cpu+bf16`` and ``cpu+fp16`` name the cpu kernel with every product in
bfloat16/float16 on ATen/oneDNN (``rnnkit.kernels.products``: the "lowp" path). A
mixed-precision layer asks for it by entering ``products.low_products(dtype)``; inside it,
``get_kernel`` hands out that variant where the dispatch picks lowp for this CPU, and the
cells pass its name to their operators (``rnnkit.cells._ops.kernel_name``), so the backward,
which runs after the layer call has left the context, uses it too.
"""

from __future__ import annotations

import os
import warnings
from types import ModuleType

from rnnkit.kernels import products

KERNEL_NAMES = ("reference", "cpu")
_ENV_VAR = "RNNKIT_KERNEL"
_cpu_failure: str | None = None


def _load_cpu() -> ModuleType | None:
    """Import the C++ kernels, building them on first use; None (with one warning) if that fails."""
    global _cpu_failure
    if _cpu_failure is not None:
        return None
    try:
        from rnnkit.kernels import cpu

        cpu.ensure_built()
        return cpu
    except Exception as exc:  # any build or import failure means: fall back, say why, once
        _cpu_failure = f"{type(exc).__name__}: {exc}".splitlines()[0]
        warnings.warn(
            f"rnnkit: fused CPU kernels unavailable ({_cpu_failure}); using the reference kernels",
            RuntimeWarning,
            stacklevel=3,
        )
        return None


def get_kernel(name: str | None = None, device_type: str = "cpu") -> ModuleType:
    """The kernel module to run: ``name``, else ``$RNNKIT_KERNEL``, else the fastest available.

    ``reference`` is always available. ``cpu`` is used by default on CPU tensors when the
    C++ extension builds; asking for it explicitly when it cannot be built raises. ``cpu+bf16``
    / ``cpu+fp16``, or the cpu kernel inside ``products.low_products`` where the dispatch says
    lowp, give the cpu kernel with 16-bit products (``products.LowPrecisionKernel``).
    """
    chosen = name or os.environ.get(_ENV_VAR) or None
    low = products.low_of(chosen) if chosen else None
    if low is not None:
        chosen = chosen.rsplit("+", 1)[0]
        if chosen != "cpu":
            raise ValueError(f"16-bit products are a variant of the 'cpu' kernel, not {chosen!r}")
    module = _get_base(chosen, device_type)
    low = low or products.current()
    if low is not None and module.name == "cpu":
        return products.variant(module, low)
    return module


def _get_base(chosen: str | None, device_type: str) -> ModuleType:
    from rnnkit.kernels import reference

    if chosen is not None and chosen not in KERNEL_NAMES:
        raise ValueError(f"unknown kernel {chosen!r}; expected one of {KERNEL_NAMES}")
    if chosen == "reference" or device_type != "cpu":
        return reference
    if not _cpu_available():
        if chosen == "cpu":
            raise RuntimeError("the 'cpu' kernel was requested but is not available")
        return reference
    cpu = _load_cpu()
    if cpu is None:
        if chosen == "cpu":
            raise RuntimeError(f"the 'cpu' kernel was requested but failed to load: {_cpu_failure}")
        return reference
    return cpu


def _cpu_available() -> bool:
    """True when the C++ kernel sources ship with this install."""
    from importlib.util import find_spec

    return find_spec("rnnkit.kernels.cpu") is not None
