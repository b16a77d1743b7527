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
from rnnkit.cells._common import (
    bias_grad,
    needs_grad,
    product_grads,
    resolve_kernel,
)
from rnnkit.cells.differentiable import differentiable_grads, use_plain_ops
from rnnkit.kernels.reference import previous_states


class GRUFunction(torch.autograd.Function):
    """One GRU layer in one direction over a whole sequence, with hand-written BPTT."""

    @staticmethod
    def forward(ctx, x, w_ih, w_hh, b_ih, b_hh, h0, batch_sizes, reverse, kernel):
        y, hT, gates, ghn = kernel.gru_forward(
            x, w_ih, b_ih, w_hh, b_hh, h0, batch_sizes, reverse, True
        )
        ctx.save_for_backward(x, w_ih, w_hh, b_ih, b_hh, h0, y, gates, ghn, batch_sizes)
        ctx.flags = (reverse, kernel, b_ih is not None, b_hh is not None)
        return y, hT

    @staticmethod
    def backward(ctx, dy, dhT):
        x, w_ih, w_hh, b_ih, b_hh, h0, y, gates, ghn, batch_sizes = ctx.saved_tensors
        reverse, kernel, has_b_ih, has_b_hh = ctx.flags
        if torch.is_grad_enabled():  # create_graph: a gradient that can be differentiated
            grads = differentiable_grads(
                lambda *a: differentiable.gru(*a, batch_sizes, reverse),
                (x, w_ih, w_hh, b_ih, b_hh, h0),
                (dy, dhT),
            )
            return (*grads, None, None, None)
        need = ctx.needs_input_grad
        dgx, dgh, dh0 = kernel.gru_backward(
            dy.contiguous(), dhT.contiguous(), y, h0, gates, ghn, w_hh, batch_sizes, reverse
        )
        dx, dw_ih = product_grads(dgx, x, w_ih, need[0], need[1], kernel.empty, kernel.mm)
        h_prev = previous_states(y, h0, batch_sizes, reverse, out=kernel.empty(y.shape, y))
        _, dw_hh = product_grads(dgh, h_prev, w_hh, False, need[2], mm=kernel.mm)
        db_ih = bias_grad(dgx) if has_b_ih else None
        db_hh = bias_grad(dgh) if has_b_hh else None
        return dx, dw_ih, dw_hh, db_ih, db_hh, dh0, None, None, None


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
    kern = resolve_kernel(kernel, x)
    x, h0 = x.contiguous(), h0.contiguous()
    w_ih, w_hh = w_ih.contiguous(), w_hh.contiguous()
    if needs_grad(x, w_ih, w_hh, b_ih, b_hh, h0):
        return GRUFunction.apply(x, w_ih, w_hh, b_ih, b_hh, h0, batch_sizes, reverse, kern)
    y, hT, _, _ = kern.gru_forward(x, w_ih, b_ih, w_hh, b_hh, h0, batch_sizes, reverse, False)
    return y, hT
