r"""The LSTM (with optional projection) and its backpropagation through time.

Forward, with torch.nn's gate order i, f, g, o and the same weights at every step
(Hochreiter & Schmidhuber 1997; forget gate: Gers et al. 2000)::

    [ai, af, ag, ao] = U x_t + W h_{t-1} + b       U = weight_ih (4H,I), W = weight_hh (4H,P)
    i = σ(ai)   f = σ(af)   g = tanh(ag)   o = σ(ao)
    c_t = f * c_{t-1} + i * g
    m_t = o * tanh(c_t)
    h_t = R m_t            R = weight_hr (P,H) with proj_size P; without it, h_t = m_t

Backward. dh_t and dc_t are the total gradients reaching h_t and c_t::

    dh_t  = dL_t/dh_t + W^T da_{t+1}
    dm_t  = R^T dh_t                                   dR = sum_t dh_t m_t^T
    dc_t  = dc_{t+1} * f_{t+1} + dm_t * o * (1 - tanh(c_t)^2)
    dai = dc_t * g * i(1-i)      daf = dc_t * c_{t-1} * f(1-f)
    dag = dc_t * i * (1-g^2)     dao = dm_t * tanh(c_t) * o(1-o)
    dU  = sum_t da_t x_t^T       dW = sum_t da_t h_{t-1}^T      db = sum_t da_t
    dx_t = U^T da_t              dh_0 = W^T da_1                dc_0 = dc_1 * f_1

The cell path c_{t-1} -> c_t is multiplied only by f: when the forget gate stays near one the
gradient neither vanishes nor explodes, which is why the LSTM remembers over long spans.
"""

from __future__ import annotations

from types import ModuleType

import torch
from torch import Tensor

from rnnkit.cells import differentiable
from rnnkit.cells._common import (
    bias_grad,
    joint_bias,
    needs_grad,
    product_grads,
    weight_grads,
)
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

Opt = Tensor | None


def lstm_forward(
    x: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Opt,
    b_hh: Opt,
    w_hr: Opt,
    h0: Tensor,
    c0: Tensor,
    batch_sizes: Opt,
    reverse: bool,
    save: bool,
    kernel: str | None,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """One LSTM layer and direction: x (T,B,I), h0 (B,P), c0 (B,H) -> y (T,B,P), hT (B,P),
    cT (B,H), and with ``save`` the activated gates (T,B,4H) and cell states (T,B,H) that
    the backward op reads (``absent`` without)."""
    check_rows(x, batch_sizes)
    kern = get_kernel(kernel, x.device.type)
    y, hT, cT, gates, c = kern.lstm_forward(
        x, w_ih, w_hh, joint_bias(b_ih, b_hh), w_hr, h0, c0, batch_sizes, reverse, save
    )
    return y, hT, cT, given(gates, save, x), given(c, save, x)


lstm_op = torch.library.custom_op(op_name("lstm"), lstm_forward, mutates_args=())


@lstm_op.register_fake
def _(x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0, batch_sizes, reverse, save, kernel):
    T, B, _ = x.shape
    P, H = h0.shape[1], c0.shape[1]
    gates, c = x.new_empty(T, B, 4 * H), x.new_empty(T, B, H)
    return (
        x.new_empty(T, B, P),
        x.new_empty(B, P),
        x.new_empty(B, H),
        fake(gates, save, x),
        fake(c, save, x),
    )


@torch.library.custom_op(op_name("lstm_backward"), mutates_args=())
def lstm_backward_op(
    dy: Tensor,
    dhT: Tensor,
    dcT: Tensor,
    x: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    w_hr: Opt,
    h0: Tensor,
    c0: Tensor,
    y: Tensor,
    gates: Tensor,
    c: Tensor,
    batch_sizes: Opt,
    reverse: bool,
    need: list[bool],
    kernel: str | None,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The gradients of ``lstm`` (see the module docstring): dx, dw_ih, dw_hh, db (the one
    gradient of b_ih and b_hh), dw_hr, dh0, dc0; the first five only where ``need`` says
    so (``absent`` elsewhere)."""
    need_x, need_ih, need_hh, need_b, need_hr = need
    kern = get_kernel(kernel, x.device.type)
    dg, dh0, dc0, dr = kern.lstm_backward(
        dy.contiguous(),
        dhT.contiguous(),
        dcT.contiguous(),
        gates,
        c,
        c0,
        w_hh,
        w_hr,
        batch_sizes,
        reverse,
    )
    dx, _ = product_grads(dg, x, w_ih, need_x, False, kern.empty, kern.mm)
    dw_ih, dw_hh = weight_grads(
        dg, x, y, h0, batch_sizes, reverse, need_ih, need_hh, kern.empty, kern.mm
    )
    db = bias_grad(dg) if need_b else None
    dw_hr = None
    if w_hr is not None and need_hr:
        m = gates[..., 3 * c.shape[2] :] * torch.tanh(c)  # (T, B, H): o * tanh(c)
        _, dw_hr = product_grads(dr, m, w_hr, False, True, mm=kern.mm)
    grads = (dx, dw_ih, dw_hh, db, dw_hr)
    return (*(given(g, w, x) for g, w in zip(grads, need, strict=True)), dh0, dc0)


@lstm_backward_op.register_fake
def _(dy, dhT, dcT, x, w_ih, w_hh, w_hr, h0, c0, y, gates, c, batch_sizes, reverse, need, kernel):
    bias = x.new_empty(gates.shape[2])  # (4H,)
    shapes = (x, w_ih, w_hh, bias, w_hr)
    return (
        *(fake(s, w, x) for s, w in zip(shapes, need, strict=True)),
        x.new_empty(h0.shape),
        x.new_empty(c0.shape),
    )


def _setup_context(ctx, inputs, output) -> None:
    x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0, batch_sizes, reverse, save, kernel = inputs
    y, _, _, gates, c = output
    ctx.mark_non_differentiable(gates, c)
    ctx.save_for_backward(x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0, y, gates, c, batch_sizes)
    ctx.flags = (reverse, save, kernel)


def _backward(ctx, dy, dhT, dcT, _dgates, _dc):
    x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0, y, gates, c, batch_sizes = ctx.saved_tensors
    reverse, save, kernel = ctx.flags
    if torch.is_grad_enabled():  # create_graph: a gradient that can be differentiated
        grads = differentiable_grads(
            lambda *a: differentiable.lstm(*a, batch_sizes, reverse),
            (x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0),
            (dy, dhT, dcT),
        )
        return (*grads, None, None, None, None)
    if not save:
        raise RuntimeError("rnnkit::lstm: backward through a call made with save=False")
    need = ctx.needs_input_grad
    want = [need[0], need[1], need[2], need[3] or need[4], need[5]]
    dx, dw_ih, dw_hh, db, dw_hr, dh0, dc0 = lstm_backward_op(
        dy, dhT, dcT, x, w_ih, w_hh, w_hr, h0, c0, y, gates, c, batch_sizes, reverse, want, kernel
    )
    return input_grads(need, dx, dw_ih, dw_hh, db, db, dw_hr, dh0, dc0)


lstm_op.register_autograd(_backward, setup_context=_setup_context)
dispatch_directly(lstm_op)
dispatch_directly(lstm_backward_op)


def lstm_step(
    x: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Opt,
    b_hh: Opt,
    w_hr: Opt,
    h: Tensor,
    c: Tensor,
    kernel: str | None,
) -> tuple[Tensor, Tensor]:
    """One step without autograd (generation): x (B,I), h (B,P), c (B,H) -> (h', c'); both
    products and the gates in one fused call where the kernel has one."""
    kern = get_kernel(kernel, x.device.type)
    bias = joint_bias(b_ih, b_hh)
    if hasattr(kern, "lstm_step"):
        return kern.lstm_step(x, w_ih, w_hh, bias, w_hr, h, c)
    _, hT, cT, _, _ = kern.lstm_forward(x[None], w_ih, w_hh, bias, w_hr, h, c, None, False, False)
    return hT, cT


lstm_step_op = torch.library.custom_op(op_name("lstm_step"), lstm_step, mutates_args=())


@lstm_step_op.register_fake
def _(x, w_ih, w_hh, b_ih, b_hh, w_hr, h, c, kernel):
    return x.new_empty(h.shape), x.new_empty(c.shape)


dispatch_directly(lstm_step_op)


def lstm_layer(
    x: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
    w_hr: Tensor | None,
    h0: Tensor,
    c0: Tensor,
    *,
    reverse: bool = False,
    batch_sizes: Tensor | None = None,
    kernel: str | ModuleType | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Run an LSTM layer over x (T,B,I) from h0 (B,P), c0 (B,H).

    Returns outputs (T,B,P), final hidden state (B,P) and final cell state (B,H).
    ``batch_sizes`` and ``reverse`` as in the kernel contract (``rnnkit.kernels``).
    """
    if use_plain_ops(x):
        return differentiable.lstm(x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0, batch_sizes, reverse)
    name = kernel_name(kernel, x)
    x, h0, c0 = x.contiguous(), h0.contiguous(), c0.contiguous()
    w_ih, w_hh = w_ih.contiguous(), w_hh.contiguous()
    w_hr = None if w_hr is None else w_hr.contiguous()
    train = needs_grad(x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0)
    direct = not train and run_directly(x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0)
    if not train and x.shape[0] == 1 and batch_sizes is None:
        # Generation, one token at a time: both products and the gates in one fused call.
        if registered_cpu_ops(name, x):
            hT, cT = torch.ops.rnnkit.lstm_step_infer.default(
                x[0], w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0
            )
            return hT.unsqueeze(0), hT, cT
        step = lstm_step if direct else lstm_step_op
        hT, cT = step(x[0], w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0, name)
        return hT.unsqueeze(0), hT, cT
    if not train and registered_cpu_ops(name, x):
        return torch.ops.rnnkit.lstm_infer.default(
            x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0, batch_sizes, reverse
        )
    y, hT, cT, _, _ = (lstm_forward if direct else lstm_op)(
        x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0, batch_sizes, reverse, train, name
    )
    return y, hT, cT
