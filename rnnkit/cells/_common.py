"""What every cell's autograd Function shares: the large products before and after the loop."""

from __future__ import annotations

from types import ModuleType

import torch
from torch import Tensor

from rnnkit.kernels import get_kernel


def resolve_kernel(kernel: str | ModuleType | None, x: Tensor) -> ModuleType:
    """A kernel module from a name, a module, or None (the default for x's device)."""
    if isinstance(kernel, ModuleType):
        return kernel
    return get_kernel(kernel, x.device.type)


def input_projection(x: Tensor, weight: Tensor, *biases: Tensor | None) -> Tensor:
    """x (T,B,I) @ weight^T (I,G) + sum(biases) -> (T,B,G), as one matrix product."""
    T, B, I = x.shape
    bias = None
    for b in biases:
        if b is not None:
            bias = b if bias is None else bias + b
    x2 = x.reshape(T * B, I)
    G = weight.shape[0]
    if bias is None:
        out = x2 @ weight.t()
    elif 4 * (I + 1) <= G:
        # Narrow inputs: [x 1] @ [W b]^T. addmm would first broadcast the bias into the whole
        # (T*B, G) output and read it back, which costs more than the product when I << G.
        xa = x2.new_empty(T * B, I + 1)  # (T*B, I+1)
        xa[:, :I] = x2
        xa[:, I] = 1
        out = xa @ torch.cat((weight, bias[:, None]), 1).t()
    else:
        out = torch.addmm(bias, x2, weight.t())
    return out.view(T, B, -1)  # (T, B, G)


def product_grads(
    d_out: Tensor, inp: Tensor, weight: Tensor, need_input: bool, need_weight: bool
) -> tuple[Tensor | None, Tensor | None]:
    """For out = inp @ weight^T over (T,B,·): (d_inp, d_weight), each one matrix product."""
    T, B, G = d_out.shape
    d2 = d_out.reshape(T * B, G)
    d_inp = (d2 @ weight).view(T, B, -1) if need_input else None
    d_weight = d2.t() @ inp.reshape(T * B, -1) if need_weight else None
    return d_inp, d_weight


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
