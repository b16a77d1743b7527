"""What every cell's autograd Function shares: the large products before and after the loop."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import torch
from torch import Tensor

from rnnkit.kernels import get_kernel, reference
from rnnkit.kernels.reference import previous_states

Mm = Callable[..., Tensor]  # (a, b, out=None) -> a @ b: torch.mm, or a kernel's ``mm``


def resolve_kernel(kernel: str | ModuleType | None, x: Tensor) -> ModuleType:
    """A kernel module from a name, a module, or None (the default for x's device)."""
    if isinstance(kernel, ModuleType):
        return kernel
    return get_kernel(kernel, x.device.type)


def joint_bias(*biases: Tensor | None) -> Tensor | None:
    """The sum of the biases that are not None (None when all are): e.g. b_ih + b_hh."""
    present = [b for b in biases if b is not None]
    if not present:
        return None
    total = present[0]
    for b in present[1:]:
        total = total + b
    return total.contiguous()


def input_projection(
    x: Tensor, weight: Tensor, *biases: Tensor | None, mm: Mm = torch.mm, empty: Empty | None = None
) -> Tensor:
    """x (T,B,I) @ weight^T (I,G) + sum(biases) -> (T,B,G), as one matrix product (``mm``: the
    kernel's, which may run it in 16 bits). ``empty``: the kernel's allocator, for the product
    and [x 1] (outside autograd only): the cpu kernel's buffer cache spares a fresh (T*B, G)
    output its page faults (2% of an Elman inference at (T,B,I,H) = (500,16,64,128))."""
    T, B, I = x.shape
    bias = joint_bias(*biases)
    x2 = x.reshape(T * B, I)
    G = weight.shape[0]
    if mm is not torch.mm:  # a 16-bit product (biases already hold 16-bit values), bias in float32
        out = mm(x2, weight.t())
        if bias is not None:
            out += bias
        return out.view(T, B, -1)  # (T, B, G)
    out = None if empty is None else empty((T * B, G), x)  # (T*B, G)
    if bias is None:
        out = torch.mm(x2, weight.t(), out=out)
    elif 4 * (I + 1) <= G:
        # Narrow inputs: [x 1] @ [W b]^T. addmm would first broadcast the bias into the whole
        # (T*B, G) output and read it back, which costs more than the product when I << G.
        xa = x2.new_empty(T * B, I + 1) if empty is None else empty((T * B, I + 1), x)
        xa[:, :I] = x2
        xa[:, I] = 1
        out = torch.mm(xa, torch.cat((weight, bias[:, None]), 1).t(), out=out)
    else:
        out = torch.addmm(bias, x2, weight.t(), out=out)
    return out.view(T, B, -1)  # (T, B, G)


Empty = Callable[[tuple[int, ...], Tensor], Tensor]  # (shape, like) -> uninitialised tensor


def product_grads(
    d_out: Tensor,
    inp: Tensor,
    weight: Tensor,
    need_input: bool,
    need_weight: bool,
    empty: Empty = reference.empty,
    mm: Mm = torch.mm,
) -> tuple[Tensor | None, Tensor | None]:
    """For out = inp @ weight^T over (T,B,·): (d_inp, d_weight), each one matrix product.

    ``empty`` allocates d_inp: the kernel's, so the cpu kernel serves it from its buffer cache.
    """
    T, B, G = d_out.shape
    d2 = d_out.reshape(T * B, G)
    d_inp = None
    if need_input:
        d_inp = mm(d2, weight, out=empty((T * B, weight.shape[1]), d2)).view(T, B, -1)
    d_weight = mm(d2.t(), inp.reshape(T * B, -1)) if need_weight else None
    return d_inp, d_weight


def weight_grads(
    d_out: Tensor,
    x: Tensor,
    y: Tensor,
    h0: Tensor,
    batch_sizes: Tensor | None,
    reverse: bool,
    need_ih: bool,
    need_hh: bool,
    empty: Empty = reference.empty,
    mm: Mm = torch.mm,
) -> tuple[Tensor | None, Tensor | None]:
    """dW_ih = sum_t d_t^T x_t and dW_hh = sum_t d_t^T h_{t-1}, from d_out (T,B,G).

    Both as one product d^T [x h_prev]: one wide GEMM beats two narrow ones, and h_prev is
    written straight into its half of the joint buffer instead of a tensor of its own. The
    buffers come from ``empty`` (the kernel's), so the cpu kernel reuses them across steps.
    """
    T, B, I = x.shape
    P = y.shape[2]
    G = d_out.shape[2]
    d2t = d_out.reshape(T * B, G).t()  # (G, T*B)
    if not need_hh:
        return (mm(d2t, x.reshape(T * B, I)) if need_ih else None), None
    xh = empty((T, B, I + P), x)  # (T, B, I+P): [x_t, h_{t-1}]
    previous_states(y, h0, batch_sizes, reverse, out=xh[..., I:])
    if not need_ih:
        return None, mm(d2t, xh[..., I:].reshape(T * B, P))
    xh[..., :I] = x
    dw = mm(d2t, xh.view(T * B, I + P), out=empty((G, I + P), x))  # (G, I+P)
    dw_ih = empty((G, I), x).copy_(dw[:, :I])  # (G, I)
    dw_hh = empty((G, P), x).copy_(dw[:, I:])  # (G, P)
    return dw_ih, dw_hh


def bias_grad(d_out: Tensor) -> Tensor:
    """sum over (T, B) of d_out (T,B,G) -> (G,), as one matrix-vector product with ones.

    MKL's gemv reads the gradient once at memory speed; a reduction over the two leading
    dimensions is several times slower on the sizes the layers see.
    """
    d2 = d_out.reshape(-1, d_out.shape[-1])  # (T*B, G)
    return torch.mv(d2.t(), d2.new_ones(d2.shape[0]))


def needs_grad(*tensors: Tensor | None) -> bool:
    """Whether autograd will want gradients for any of these (else the fast no-save path runs)."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
