r"""The Elman recurrence, with tanh or ReLU, and its backpropagation through time.

Forward, for t = 1..T with the same U, W, b at every step (Elman 1990)::

    a_t = U x_t + W h_{t-1} + b          (U = weight_ih, W = weight_hh, b = b_ih + b_hh)
    h_t = f(a_t)                          f = tanh or ReLU

Backward. With L = sum_t L_t and dh_t the total gradient reaching h_t (from the loss at step
t and from step t+1 through the recurrence)::

    dh_t  = dL_t/dh_t + W^T da_{t+1}        (dh_T: the gradient of the final state)
    da_t  = dh_t * f'(a_t)                  f' = 1 - h_t^2 (tanh) or [h_t > 0] (ReLU)
    dU    = sum_t da_t x_t^T                dW = sum_t da_t h_{t-1}^T      db = sum_t da_t
    dx_t  = U^T da_t                        dh_0 = W^T da_1

The step Jacobian dh_t/dh_{t-1} = diag(f'(a_t)) W: its product over many steps is what
vanishes or explodes (0.9^50 ~ 0.005, 1.9^50 ~ 8e13; Bengio et al. 1994). Only
``W^T da_{t+1}`` and the element-wise lines run inside the time loop; dU, dW, db and dx are
one matrix product each over all steps.
"""

from __future__ import annotations

from types import ModuleType

import torch
from torch import Tensor

from rnnkit.cells import differentiable
from rnnkit.cells._common import (
    bias_grad,
    input_projection,
    needs_grad,
    product_grads,
    resolve_kernel,
    weight_grads,
)
from rnnkit.cells.differentiable import differentiable_grads, use_plain_ops


class ElmanFunction(torch.autograd.Function):
    """One Elman layer in one direction over a whole sequence, with hand-written BPTT."""

    @staticmethod
    def forward(ctx, x, w_ih, w_hh, b_ih, b_hh, h0, batch_sizes, reverse, relu, kernel):
        gx = input_projection(x, w_ih, b_ih, b_hh, mm=kernel.mm)  # (T, B, H)
        y, hT = kernel.elman_forward(gx, w_hh, h0, batch_sizes, reverse, relu, True)
        ctx.save_for_backward(x, w_ih, w_hh, b_ih, b_hh, h0, y, batch_sizes)
        ctx.flags = (reverse, relu, kernel, b_ih is not None, b_hh is not None)
        return y, hT

    @staticmethod
    def backward(ctx, dy, dhT):
        x, w_ih, w_hh, b_ih, b_hh, h0, y, batch_sizes = ctx.saved_tensors
        reverse, relu, kernel, has_b_ih, has_b_hh = ctx.flags
        if torch.is_grad_enabled():  # create_graph: a gradient that can be differentiated
            grads = differentiable_grads(
                lambda *a: differentiable.elman(*a, batch_sizes, reverse, relu),
                (x, w_ih, w_hh, b_ih, b_hh, h0),
                (dy, dhT),
            )
            return (*grads, None, None, None, None)
        need = ctx.needs_input_grad
        dg, dh0 = kernel.elman_backward(
            dy.contiguous(), dhT.contiguous(), y, h0, w_hh, batch_sizes, reverse, relu
        )
        dx, _ = product_grads(dg, x, w_ih, need[0], False, kernel.empty, kernel.mm)
        dw_ih, dw_hh = weight_grads(
            dg, x, y, h0, batch_sizes, reverse, need[1], need[2], kernel.empty, kernel.mm
        )
        db = bias_grad(dg) if (has_b_ih or has_b_hh) else None
        return (
            dx,
            dw_ih,
            dw_hh,
            db if has_b_ih else None,
            db if has_b_hh else None,
            dh0,
            None,
            None,
            None,
            None,
        )


def elman_layer(
    x: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
    h0: Tensor,
    *,
    relu: bool = False,
    reverse: bool = False,
    batch_sizes: Tensor | None = None,
    kernel: str | ModuleType | None = None,
) -> tuple[Tensor, Tensor]:
    """Run an Elman layer over x (T,B,I) from h0 (B,H) -> (outputs (T,B,H), final state (B,H)).

    ``batch_sizes`` and ``reverse`` as in the kernel contract (``rnnkit.kernels``).
    """
    if use_plain_ops(x):
        return differentiable.elman(x, w_ih, w_hh, b_ih, b_hh, h0, batch_sizes, reverse, relu)
    kern = resolve_kernel(kernel, x)
    x, h0, w_hh = x.contiguous(), h0.contiguous(), w_hh.contiguous()
    if needs_grad(x, w_ih, w_hh, b_ih, b_hh, h0):
        return ElmanFunction.apply(x, w_ih, w_hh, b_ih, b_hh, h0, batch_sizes, reverse, relu, kern)
    gx = input_projection(x, w_ih, b_ih, b_hh, mm=kern.mm)
    return kern.elman_forward(gx, w_hh, h0, batch_sizes, reverse, relu, False)
