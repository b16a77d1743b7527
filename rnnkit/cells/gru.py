r"""The GRU (torch.nn's variant) and its backpropagation through time.

Forward, with torch.nn's gate order r, z, n (Cho et al. 2014). The reset gate multiplies
the recurrent part of the candidate *after* its bias, as torch.nn and cuDNN do::

    [xr, xz, xn] = U x_t + b_i          U = weight_ih (3H,I)
    [hr, hz, hn] = W h_{t-1} + b_h      W = weight_hh (3H,H)
    r = σ(xr + hr)    z = σ(xz + hz)    n = tanh(xn + r * hn)
    h_t = (1 - z) * n + z * h_{t-1}

Backward, with dh_t the total gradient reaching h_t::

    dz = dh_t * (h_{t-1} - n) * z(1-z)
    dn = dh_t * (1 - z) * (1 - n^2)
    dr = dn * hn * r(1-r)
    dx-side pre-activations:  [dr, dz, dn]          -> dU = sum_t [dr,dz,dn] x_t^T, db_i
    dh-side pre-activations:  [dr, dz, dn * r]      -> dW = sum_t [..] h_{t-1}^T,  db_h
    dh_{t-1} = dh_t * z + W^T [dr, dz, dn * r]

As in the LSTM, the z * h_{t-1} path lets the gradient pass a step unchanged when z is near 1.
"""

from __future__ import annotations

from types import ModuleType

import torch
from torch import Tensor

from rnnkit.cells import differentiable
from rnnkit.cells._common import bias_grad, needs_grad, product_grads
from rnnkit.cells._ops import (
    check_rows,
    dispatch_directly,
    fake,
    given,
    input_grads,
    kernel_name,
    op_name,
    registered_cpu_ops,
    run_directly,
)
from rnnkit.cells.differentiable import differentiable_grads, use_plain_ops
from rnnkit.kernels import get_kernel
from rnnkit.kernels.reference import previous_states

Opt = Tensor | None


def gru_forward(
    x: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Opt,
    b_hh: Opt,
    h0: Tensor,
    batch_sizes: Opt,
    reverse: bool,
    save: bool,
    kernel: str | None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One GRU layer and direction: x (T,B,I), h0 (B,H) -> y (T,B,H), hT (B,H), and with
    ``save`` the activated gates (T,B,3H) and W_hn h + b_hn (T,B,H) that the backward op
    reads (``absent`` without)."""
    check_rows(x, batch_sizes)
    kern = get_kernel(kernel, x.device.type)
    y, hT, gates, ghn = kern.gru_forward(x, w_ih, b_ih, w_hh, b_hh, h0, batch_sizes, reverse, save)
    return y, hT, given(gates, save, x), given(ghn, save, x)


gru_op = torch.library.custom_op(op_name("gru"), gru_forward, mutates_args=())


@gru_op.register_fake
def _(x, w_ih, w_hh, b_ih, b_hh, h0, batch_sizes, reverse, save, kernel):
    T, B, _ = x.shape
    H = h0.shape[1]
    gates, ghn = x.new_empty(T, B, 3 * H), x.new_empty(T, B, H)
    return x.new_empty(T, B, H), x.new_empty(B, H), fake(gates, save, x), fake(ghn, save, x)


@torch.library.custom_op(op_name("gru_backward"), mutates_args=())
def gru_backward_op(
    dy: Tensor,
    dhT: Tensor,
    x: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    h0: Tensor,
    y: Tensor,
    gates: Tensor,
    ghn: Tensor,
    batch_sizes: Opt,
    reverse: bool,
    need: list[bool],
    kernel: str | None,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The gradients of ``gru``: dx, dw_ih, dw_hh, db_ih, db_hh, each only where ``need``
    says so (``absent`` elsewhere), and dh0."""
    need_x, need_ih, need_hh, need_bih, need_bhh = need
    kern = get_kernel(kernel, x.device.type)
    dgx, dgh, dh0 = kern.gru_backward(
        dy.contiguous(), dhT.contiguous(), y, h0, gates, ghn, w_hh, batch_sizes, reverse
    )
    dx, dw_ih = product_grads(dgx, x, w_ih, need_x, need_ih, kern.empty, kern.mm)
    dw_hh = None
    if need_hh:
        h_prev = previous_states(y, h0, batch_sizes, reverse, out=kern.empty(y.shape, y))
        _, dw_hh = product_grads(dgh, h_prev, w_hh, False, True, mm=kern.mm)
    db_ih = bias_grad(dgx) if need_bih else None
    db_hh = bias_grad(dgh) if need_bhh else None
    grads = (dx, dw_ih, dw_hh, db_ih, db_hh)
    return (*(given(g, w, x) for g, w in zip(grads, need, strict=True)), dh0)


@gru_backward_op.register_fake
def _(dy, dhT, x, w_ih, w_hh, h0, y, gates, ghn, batch_sizes, reverse, need, kernel):
    bias = x.new_empty(gates.shape[2])  # (3H,)
    shapes = (x, w_ih, w_hh, bias, bias)
    return (*(fake(s, w, x) for s, w in zip(shapes, need, strict=True)), x.new_empty(h0.shape))


def _setup_context(ctx, inputs, output) -> None:
    x, w_ih, w_hh, b_ih, b_hh, h0, batch_sizes, reverse, save, kernel = inputs
    y, _, gates, ghn = output
    ctx.mark_non_differentiable(gates, ghn)
    ctx.save_for_backward(x, w_ih, w_hh, b_ih, b_hh, h0, y, gates, ghn, batch_sizes)
    ctx.flags = (reverse, save, kernel)


def _backward(ctx, dy, dhT, _dgates, _dghn):
    x, w_ih, w_hh, b_ih, b_hh, h0, y, gates, ghn, batch_sizes = ctx.saved_tensors
    reverse, save, kernel = ctx.flags
    if torch.is_grad_enabled():  # create_graph: a gradient that can be differentiated
        grads = differentiable_grads(
            lambda *a: differentiable.gru(*a, batch_sizes, reverse),
            (x, w_ih, w_hh, b_ih, b_hh, h0),
            (dy, dhT),
        )
        return (*grads, None, None, None, None)
    if not save:
        raise RuntimeError("rnnkit::gru: backward through a call made with save=False")
    need = ctx.needs_input_grad
    grads = gru_backward_op(
        dy, dhT, x, w_ih, w_hh, h0, y, gates, ghn, batch_sizes, reverse, list(need[:5]), kernel
    )
    return input_grads(need, *grads)


gru_op.register_autograd(_backward, setup_context=_setup_context)
dispatch_directly(gru_op)
dispatch_directly(gru_backward_op)


def gru_layer(
    x: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
    h0: Tensor,
    *,
    reverse: bool = False,
    batch_sizes: Tensor | None = None,
    kernel: str | ModuleType | None = None,
) -> tuple[Tensor, Tensor]:
    """Run a GRU layer over x (T,B,I) from h0 (B,H) -> (outputs (T,B,H), final state (B,H)).

    ``batch_sizes`` and ``reverse`` as in the kernel contract (``rnnkit.kernels``).
    """
    if use_plain_ops(x):
        return differentiable.gru(x, w_ih, w_hh, b_ih, b_hh, h0, batch_sizes, reverse)
    x, h0 = x.contiguous(), h0.contiguous()
    w_ih, w_hh = w_ih.contiguous(), w_hh.contiguous()
    train = needs_grad(x, w_ih, w_hh, b_ih, b_hh, h0)
    if not train and registered_cpu_ops(kernel_name(kernel), x):
        return torch.ops.rnnkit.gru_infer.default(
            x, w_ih, w_hh, b_ih, b_hh, h0, batch_sizes, reverse
        )
    direct = not train and run_directly(x, w_ih, w_hh, b_ih, b_hh, h0)
    y, hT, _, _ = (gru_forward if direct else gru_op)(
        x, w_ih, w_hh, b_ih, b_hh, h0, batch_sizes, reverse, train, kernel_name(kernel, x)
    )
    return y, hT
