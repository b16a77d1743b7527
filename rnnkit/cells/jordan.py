r"""The Jordan network: the recurrence runs from the previous *output* to the hidden state.

Jordan (1986) feeds the previous output, not the previous hidden state, back into the hidden
state. With U = weight_ih (H,I),
W = weight_ho (H,O), V = weight_out (O,H)::

    a_t = U x_t + W o_{t-1} + b          (b = b_ih + b_ho)
    h_t = f(a_t)                          f = tanh or ReLU
    o_t = V h_t + c                       (c = b_out; a softmax or a loss is applied outside)

Backward, with do_t the total gradient reaching o_t (from the loss and from step t+1)::

    do_t = dL_t/do_t + W^T da_{t+1}
    dh_t = dL_t/dh_t + V^T do_t
    da_t = dh_t * f'(a_t)
    dU = sum_t da_t x_t^T     dW = sum_t da_t o_{t-1}^T     db = sum_t da_t
    dV = sum_t do_t h_t^T     dc = sum_t do_t               do_0 = W^T da_1

Teacher-forced mode replaces o_{t-1} by the previous *target* y_{t-1}. Nothing then depends
on an earlier step, so all steps run as two matrix products with no time loop at all:
``jordan_teacher_forced``.
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
)
from rnnkit.cells.differentiable import differentiable_grads, use_plain_ops
from rnnkit.kernels.reference import previous_states


class JordanFunction(torch.autograd.Function):
    """One Jordan layer in one direction over a whole sequence, with hand-written BPTT."""

    @staticmethod
    def forward(
        ctx, x, w_ih, w_ho, b_ih, b_ho, w_out, b_out, o0, batch_sizes, reverse, relu, kernel
    ):
        gx = input_projection(x, w_ih, b_ih, b_ho)  # (T, B, H)
        h, o, oT = kernel.jordan_forward(
            gx, w_ho, w_out, b_out, o0, batch_sizes, reverse, relu, True
        )
        ctx.save_for_backward(x, w_ih, w_ho, b_ih, b_ho, w_out, b_out, o0, h, o, batch_sizes)
        ctx.flags = (reverse, relu, kernel, b_ih is not None, b_ho is not None, b_out is not None)
        return h, o, oT

    @staticmethod
    def backward(ctx, dh, do, doT):
        x, w_ih, w_ho, b_ih, b_ho, w_out, b_out, o0, h, o, batch_sizes = ctx.saved_tensors
        reverse, relu, kernel, has_b_ih, has_b_ho, has_b_out = ctx.flags
        if torch.is_grad_enabled():  # create_graph: a gradient that can be differentiated
            grads = differentiable_grads(
                lambda *a: differentiable.jordan(*a, batch_sizes, reverse, relu),
                (x, w_ih, w_ho, b_ih, b_ho, w_out, b_out, o0),
                (dh, do, doT),
            )
            return (*grads, None, None, None, None)
        need = ctx.needs_input_grad
        da, dout, do0 = kernel.jordan_backward(
            dh.contiguous(),
            do.contiguous(),
            doT.contiguous(),
            h,
            o,
            o0,
            w_ho,
            w_out,
            batch_sizes,
            reverse,
            relu,
        )
        dx, dw_ih = product_grads(da, x, w_ih, need[0], need[1], kernel.empty)
        o_prev = previous_states(o, o0, batch_sizes, reverse)  # (T, B, O)
        _, dw_ho = product_grads(da, o_prev, w_ho, False, need[2])
        _, dw_out = product_grads(dout, h, w_out, False, need[5])
        db = bias_grad(da) if (has_b_ih or has_b_ho) else None
        return (
            dx,
            dw_ih,
            dw_ho,
            db if has_b_ih else None,
            db if has_b_ho else None,
            dw_out,
            bias_grad(dout) if has_b_out else None,
            do0,
            None,
            None,
            None,
            None,
        )


def jordan_layer(
    x: Tensor,
    w_ih: Tensor,
    w_ho: Tensor,
    b_ih: Tensor | None,
    b_ho: Tensor | None,
    w_out: Tensor,
    b_out: Tensor | None,
    o0: Tensor,
    *,
    relu: bool = False,
    reverse: bool = False,
    batch_sizes: Tensor | None = None,
    kernel: str | ModuleType | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Run a Jordan layer over x (T,B,I) from o0 (B,O).

    Returns hidden states (T,B,H), outputs (T,B,O) and the final output (B,O).
    ``batch_sizes`` and ``reverse`` as in the kernel contract (``rnnkit.kernels``).
    """
    if use_plain_ops(x):
        return differentiable.jordan(
            x, w_ih, w_ho, b_ih, b_ho, w_out, b_out, o0, batch_sizes, reverse, relu
        )
    kern = resolve_kernel(kernel, x)
    x, o0 = x.contiguous(), o0.contiguous()
    w_ho, w_out = w_ho.contiguous(), w_out.contiguous()
    if needs_grad(x, w_ih, w_ho, b_ih, b_ho, w_out, b_out, o0):
        return JordanFunction.apply(
            x, w_ih, w_ho, b_ih, b_ho, w_out, b_out, o0, batch_sizes, reverse, relu, kern
        )
    gx = input_projection(x, w_ih, b_ih, b_ho)
    return kern.jordan_forward(gx, w_ho, w_out, b_out, o0, batch_sizes, reverse, relu, False)


def jordan_teacher_forced(
    x: Tensor,
    prev_targets: Tensor,
    w_ih: Tensor,
    w_ho: Tensor,
    b_ih: Tensor | None,
    b_ho: Tensor | None,
    w_out: Tensor,
    b_out: Tensor | None,
    *,
    relu: bool = False,
) -> tuple[Tensor, Tensor]:
    """Teacher-forced Jordan layer: o_{t-1} replaced by prev_targets (T,B,O).

    Returns hidden states (T,B,H) and outputs (T,B,O). With no recurrence left, autograd's
    gradient of these two products is exact and as fast as any hand-written one.
    """
    a = input_projection(x, w_ih, b_ih, b_ho) + input_projection(prev_targets, w_ho)  # (T,B,H)
    h = torch.relu(a) if relu else torch.tanh(a)
    o = input_projection(h, w_out, b_out)  # (T, B, O)
    return h, o
