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


def elman_forward(
    x: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Opt,
    b_hh: Opt,
    h0: Tensor,
    batch_sizes: Opt,
    reverse: bool,
    relu: bool,
    save: bool,
    kernel: str | None,
) -> tuple[Tensor, Tensor]:
    """One Elman layer and direction: x (T,B,I), h0 (B,H) -> y (T,B,H), hT (B,H)."""
    check_rows(x, batch_sizes)
    kern = get_kernel(kernel, x.device.type)
    gx = input_projection(x, w_ih, b_ih, b_hh, mm=kern.mm, empty=kern.empty)  # (T, B, H)
    return kern.elman_forward(gx, w_hh, h0, batch_sizes, reverse, relu, save)


elman_op = torch.library.custom_op(op_name("elman"), elman_forward, mutates_args=())


@elman_op.register_fake
def _(x, w_ih, w_hh, b_ih, b_hh, h0, batch_sizes, reverse, relu, save, kernel):
    T, B, _ = x.shape
    H = w_hh.shape[0]
    return x.new_empty(T, B, H), x.new_empty(B, H)


@torch.library.custom_op(op_name("elman_backward"), mutates_args=())
def elman_backward_op(
    dy: Tensor,
    dhT: Tensor,
    x: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    h0: Tensor,
    y: Tensor,
    batch_sizes: Opt,
    reverse: bool,
    relu: bool,
    need: list[bool],
    kernel: str | None,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The gradients of ``elman``: dx, dw_ih, dw_hh, db (the one gradient of b_ih and b_hh),
    each only where ``need`` says so (``absent`` elsewhere), and dh0."""
    need_x, need_ih, need_hh, need_b = need
    kern = get_kernel(kernel, x.device.type)
    dg, dh0 = kern.elman_backward(
        dy.contiguous(), dhT.contiguous(), y, h0, w_hh, batch_sizes, reverse, relu
    )
    dx, _ = product_grads(dg, x, w_ih, need_x, False, kern.empty, kern.mm)
    dw_ih, dw_hh = weight_grads(
        dg, x, y, h0, batch_sizes, reverse, need_ih, need_hh, kern.empty, kern.mm
    )
    db = bias_grad(dg) if need_b else None
    grads = (dx, dw_ih, dw_hh, db)
    return (*(given(g, w, x) for g, w in zip(grads, need, strict=True)), dh0)


@elman_backward_op.register_fake
def _(dy, dhT, x, w_ih, w_hh, h0, y, batch_sizes, reverse, relu, need, kernel):
    shapes = (x, w_ih, w_hh, x.new_empty(w_hh.shape[0]))
    return (*(fake(s, w, x) for s, w in zip(shapes, need, strict=True)), x.new_empty(h0.shape))


def _setup_context(ctx, inputs, output) -> None:
    x, w_ih, w_hh, b_ih, b_hh, h0, batch_sizes, reverse, relu, save, kernel = inputs
    ctx.save_for_backward(x, w_ih, w_hh, b_ih, b_hh, h0, output[0], batch_sizes)
    ctx.flags = (reverse, relu, kernel)


def _backward(ctx, dy, dhT):
    x, w_ih, w_hh, b_ih, b_hh, h0, y, batch_sizes = ctx.saved_tensors
    reverse, relu, kernel = ctx.flags
    if torch.is_grad_enabled():  # create_graph: a gradient that can be differentiated
        grads = differentiable_grads(
            lambda *a: differentiable.elman(*a, batch_sizes, reverse, relu),
            (x, w_ih, w_hh, b_ih, b_hh, h0),
            (dy, dhT),
        )
        return (*grads, None, None, None, None, None)
    need = ctx.needs_input_grad
    want = [need[0], need[1], need[2], need[3] or need[4]]
    dx, dw_ih, dw_hh, db, dh0 = elman_backward_op(
        dy, dhT, x, w_ih, w_hh, h0, y, batch_sizes, reverse, relu, want, kernel
    )
    return input_grads(need, dx, dw_ih, dw_hh, db, db, dh0)


elman_op.register_autograd(_backward, setup_context=_setup_context)
dispatch_directly(elman_op)
dispatch_directly(elman_backward_op)


class ElmanTraining(torch.autograd.Function):
    """A padded Elman layer call to train, as torch.compile traces it with the cpu kernel:
    the forward and backward on operators the C++ kernels register themselves
    (``rnnkit::elman_infer``, ``rnnkit::elman_train_backward``), so AOTAutograd's forward and
    backward graphs call C++ with no trip through Python (``registered_cpu_ops``). The same
    gradients as ``elman_op``'s formula, once differentiable (a second derivative raises)."""

    @staticmethod
    def forward(x, w_ih, w_hh, b_ih, b_hh, h0, reverse, relu):
        return torch.ops.rnnkit.elman_infer.default(
            x, w_ih, w_hh, b_ih, b_hh, h0, None, reverse, relu
        )  # y (T, B, H), hT (B, H)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        x, w_ih, w_hh, _, _, h0, reverse, relu = inputs
        ctx.save_for_backward(x, w_ih, w_hh, h0, output[0])
        ctx.flags = (reverse, relu)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dy, dhT):
        x, w_ih, w_hh, h0, y = ctx.saved_tensors
        need = ctx.needs_input_grad
        dx, dw_ih, dw_hh, db, dh0 = torch.ops.rnnkit.elman_train_backward.default(
            dy, dhT, x, w_ih, w_hh, h0, y, *ctx.flags, need[0], need[1], need[2], need[3] or need[4]
        )
        return input_grads(need, dx, dw_ih, dw_hh, db, db, dh0)


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
    x, h0, w_hh = x.contiguous(), h0.contiguous(), w_hh.contiguous()
    train = needs_grad(x, w_ih, w_hh, b_ih, b_hh, h0)
    if registered_cpu_ops(kernel_name(kernel), x):
        if not train:
            return torch.ops.rnnkit.elman_infer.default(
                x, w_ih, w_hh, b_ih, b_hh, h0, batch_sizes, reverse, relu
            )
        if batch_sizes is None:
            return ElmanTraining.apply(x, w_ih, w_hh, b_ih, b_hh, h0, reverse, relu)
    direct = not train and run_directly(x, w_ih, w_hh, b_ih, b_hh, h0)
    return (elman_forward if direct else elman_op)(
        x, w_ih, w_hh, b_ih, b_hh, h0, batch_sizes, reverse, relu, train, kernel_name(kernel, x)
    )
