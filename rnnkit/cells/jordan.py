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
from rnnkit.cells._common import bias_grad, input_projection, needs_grad, product_grads
from rnnkit.cells._ops import (
    check_rows,
    dispatch_directly,
    fake,
    given,
    input_grads,
    kernel_name,
    op_name,
    run_directly,
)
from rnnkit.cells.differentiable import differentiable_grads, use_plain_ops
from rnnkit.kernels import get_kernel
from rnnkit.kernels.reference import previous_states

Opt = Tensor | None


def jordan_forward(
    x: Tensor,
    w_ih: Tensor,
    w_ho: Tensor,
    b_ih: Opt,
    b_ho: Opt,
    w_out: Tensor,
    b_out: Opt,
    o0: Tensor,
    batch_sizes: Opt,
    reverse: bool,
    relu: bool,
    save: bool,
    kernel: str | None,
) -> tuple[Tensor, Tensor, Tensor]:
    """One Jordan layer: x (T,B,I), o0 (B,O) -> hidden h (T,B,H), outputs o (T,B,O), oT (B,O)."""
    check_rows(x, batch_sizes)
    kern = get_kernel(kernel, x.device.type)
    gx = input_projection(x, w_ih, b_ih, b_ho)  # (T, B, H)
    return kern.jordan_forward(gx, w_ho, w_out, b_out, o0, batch_sizes, reverse, relu, save)


jordan_op = torch.library.custom_op(op_name("jordan"), jordan_forward, mutates_args=())


@jordan_op.register_fake
def _(x, w_ih, w_ho, b_ih, b_ho, w_out, b_out, o0, batch_sizes, reverse, relu, save, kernel):
    T, B, _ = x.shape
    H, O = w_ih.shape[0], o0.shape[1]
    return x.new_empty(T, B, H), x.new_empty(T, B, O), x.new_empty(B, O)


@torch.library.custom_op(op_name("jordan_backward"), mutates_args=())
def jordan_backward_op(
    dh: Tensor,
    do: Tensor,
    doT: Tensor,
    x: Tensor,
    w_ih: Tensor,
    w_ho: Tensor,
    w_out: Tensor,
    o0: Tensor,
    h: Tensor,
    o: Tensor,
    batch_sizes: Opt,
    reverse: bool,
    relu: bool,
    need: list[bool],
    kernel: str | None,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The gradients of ``jordan``: dx, dw_ih, dw_ho, db (the one gradient of b_ih and b_ho),
    dw_out, db_out, each only where ``need`` says so (``absent`` elsewhere), and do0."""
    need_x, need_ih, need_ho, need_b, need_out, need_bout = need
    kern = get_kernel(kernel, x.device.type)
    da, dout, do0 = kern.jordan_backward(
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
    dx, dw_ih = product_grads(da, x, w_ih, need_x, need_ih, kern.empty)
    dw_ho = None
    if need_ho:
        o_prev = previous_states(o, o0, batch_sizes, reverse)  # (T, B, O)
        _, dw_ho = product_grads(da, o_prev, w_ho, False, True)
    _, dw_out = product_grads(dout, h, w_out, False, need_out)
    db = bias_grad(da) if need_b else None
    db_out = bias_grad(dout) if need_bout else None
    grads = (dx, dw_ih, dw_ho, db, dw_out, db_out)
    return (*(given(g, w, x) for g, w in zip(grads, need, strict=True)), do0)


@jordan_backward_op.register_fake
def _(dh, do, doT, x, w_ih, w_ho, w_out, o0, h, o, batch_sizes, reverse, relu, need, kernel):
    shapes = (x, w_ih, w_ho, x.new_empty(w_ih.shape[0]), w_out, x.new_empty(w_out.shape[0]))
    return (*(fake(s, w, x) for s, w in zip(shapes, need, strict=True)), x.new_empty(o0.shape))


def _setup_context(ctx, inputs, output) -> None:
    x, w_ih, w_ho, b_ih, b_ho, w_out, b_out, o0, batch_sizes, reverse, relu, save, kernel = inputs
    h, o, _ = output
    ctx.save_for_backward(x, w_ih, w_ho, b_ih, b_ho, w_out, b_out, o0, h, o, batch_sizes)
    ctx.flags = (reverse, relu, kernel)


def _backward(ctx, dh, do, doT):
    x, w_ih, w_ho, b_ih, b_ho, w_out, b_out, o0, h, o, batch_sizes = ctx.saved_tensors
    reverse, relu, kernel = ctx.flags
    if torch.is_grad_enabled():  # create_graph: a gradient that can be differentiated
        grads = differentiable_grads(
            lambda *a: differentiable.jordan(*a, batch_sizes, reverse, relu),
            (x, w_ih, w_ho, b_ih, b_ho, w_out, b_out, o0),
            (dh, do, doT),
        )
        return (*grads, None, None, None, None, None)
    need = ctx.needs_input_grad
    want = [need[0], need[1], need[2], need[3] or need[4], need[5], need[6]]
    dx, dw_ih, dw_ho, db, dw_out, db_out, do0 = jordan_backward_op(
        dh, do, doT, x, w_ih, w_ho, w_out, o0, h, o, batch_sizes, reverse, relu, want, kernel
    )
    return input_grads(need, dx, dw_ih, dw_ho, db, db, dw_out, db_out, do0)


jordan_op.register_autograd(_backward, setup_context=_setup_context)
dispatch_directly(jordan_op)
dispatch_directly(jordan_backward_op)


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
    x, o0 = x.contiguous(), o0.contiguous()
    w_ho, w_out = w_ho.contiguous(), w_out.contiguous()
    train = needs_grad(x, w_ih, w_ho, b_ih, b_ho, w_out, b_out, o0)
    name = kernel_name(kernel)
    direct = not train and run_directly(x, w_ih, w_ho, b_ih, b_ho, w_out, b_out, o0)
    return (jordan_forward if direct else jordan_op)(
        x, w_ih, w_ho, b_ih, b_ho, w_out, b_out, o0, batch_sizes, reverse, relu, train, name
    )


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
