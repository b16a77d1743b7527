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
    resolve_kernel,
    weight_grads,
)
from rnnkit.cells.differentiable import differentiable_grads, use_plain_ops


class LSTMFunction(torch.autograd.Function):
    """One LSTM layer in one direction over a whole sequence, with hand-written BPTT."""

    @staticmethod
    def forward(ctx, x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0, batch_sizes, reverse, kernel):
        y, hT, cT, gates, c = kernel.lstm_forward(
            x, w_ih, w_hh, joint_bias(b_ih, b_hh), w_hr, h0, c0, batch_sizes, reverse, True
        )
        ctx.save_for_backward(x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0, y, gates, c, batch_sizes)
        ctx.flags = (reverse, kernel, b_ih is not None, b_hh is not None)
        return y, hT, cT

    @staticmethod
    def backward(ctx, dy, dhT, dcT):
        x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0, y, gates, c, batch_sizes = ctx.saved_tensors
        reverse, kernel, has_b_ih, has_b_hh = ctx.flags
        if torch.is_grad_enabled():  # create_graph: a gradient that can be differentiated
            grads = differentiable_grads(
                lambda *a: differentiable.lstm(*a, batch_sizes, reverse),
                (x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0),
                (dy, dhT, dcT),
            )
            return (*grads, None, None, None)
        need = ctx.needs_input_grad
        dg, dh0, dc0, dr = kernel.lstm_backward(
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
        dx, _ = product_grads(dg, x, w_ih, need[0], False, kernel.empty, kernel.mm)
        dw_ih, dw_hh = weight_grads(
            dg, x, y, h0, batch_sizes, reverse, need[1], need[2], kernel.empty, kernel.mm
        )
        db = bias_grad(dg) if (has_b_ih or has_b_hh) else None
        dw_hr = None
        if w_hr is not None and need[5]:
            m = gates[..., 3 * c.shape[2] :] * torch.tanh(c)  # (T, B, H): o * tanh(c)
            _, dw_hr = product_grads(dr, m, w_hr, False, True, mm=kernel.mm)
        return (
            dx,
            dw_ih,
            dw_hh,
            db if has_b_ih else None,
            db if has_b_hh else None,
            dw_hr,
            dh0,
            dc0,
            None,
            None,
            None,
        )


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
    kern = resolve_kernel(kernel, x)
    x, h0, c0 = x.contiguous(), h0.contiguous(), c0.contiguous()
    w_ih, w_hh = w_ih.contiguous(), w_hh.contiguous()
    w_hr = None if w_hr is None else w_hr.contiguous()
    if needs_grad(x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0):
        return LSTMFunction.apply(
            x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0, batch_sizes, reverse, kern
        )
    if x.shape[0] == 1 and batch_sizes is None and hasattr(kern, "lstm_step"):
        # Generation, one token at a time: both products and the gates in one fused call.
        hT, cT = kern.lstm_step(x[0], w_ih, w_hh, joint_bias(b_ih, b_hh), w_hr, h0, c0)
        return hT.unsqueeze(0), hT, cT
    y, hT, cT, _, _ = kern.lstm_forward(
        x, w_ih, w_hh, joint_bias(b_ih, b_hh), w_hr, h0, c0, batch_sizes, reverse, False
    )
    return y, hT, cT
