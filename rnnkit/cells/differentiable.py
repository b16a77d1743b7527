r"""Every cell written once more in plain differentiable PyTorch ops, for what the fused path
cannot give: gradients of gradients, ``torch.func`` transforms, empty batches.

The hand-written BPTT in the cells' autograd Functions is exact for first-order gradients and
fast, but its backward reads intermediate values saved by the kernels, so autograd cannot
differentiate *it*. These functions compute the same recurrences step by step with autograd
recording every operation (no in-place writes), so:

- a Function's ``backward`` called with ``create_graph=True`` (a gradient penalty,
  ``gradgradcheck``) recomputes the layer here and returns autograd's gradient, which can be
  differentiated again;
- under ``torch.func`` transforms (``grad``, ``jacrev``, ``vmap``) and for a batch of size 0
  the layers run these directly.

The step loop follows the kernel contract (``rnnkit.kernels``): at step t only the first
``batch_sizes[t]`` rows are active (a packed batch); rows not yet or no longer active keep their
state; ``reverse`` runs t = T-1 .. 0. Outputs of inactive rows are zero.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

Step = Callable[[Tensor, tuple[Tensor, ...]], tuple[Tensor, tuple[Tensor, ...]]]


def scan(
    step: Step,
    inputs: Tensor,
    states: tuple[Tensor, ...],
    batch_sizes: Tensor | None,
    reverse: bool,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Run ``step(input_t (b,·), states (b,·)...) -> (output_t (b,O), new states)`` over time.

    inputs (T,B,·), states each (B,·) -> outputs (T,B,O), final states each (B,·).
    """
    T, B = inputs.shape[0], inputs.shape[1]
    rows = [B] * T if batch_sizes is None else [int(b) for b in batch_sizes.tolist()]
    outputs: list[Tensor | None] = [None] * T
    for t in range(T - 1, -1, -1) if reverse else range(T):
        b = rows[t]
        out, new = step(inputs[t, :b], tuple(s[:b] for s in states))
        states = tuple(torch.cat((n, s[b:])) for n, s in zip(new, states, strict=True))
        outputs[t] = torch.cat((out, out.new_zeros(B - b, out.shape[1]))) if b < B else out
    if T == 0:
        return inputs.new_zeros(0, B, states[0].shape[1]), states
    return torch.stack(outputs), states  # (T, B, O)


def project(x: Tensor, weight: Tensor, *biases: Tensor | None) -> Tensor:
    """x (T,B,I) W^T + every bias given: (T,B,G)."""
    out = x @ weight.t()
    for b in biases:
        if b is not None:
            out = out + b
    return out


def elman(x, w_ih, w_hh, b_ih, b_hh, h0, batch_sizes, reverse, relu) -> tuple[Tensor, Tensor]:
    """h_t = f(U x_t + b_ih + W h_{t-1} + b_hh): outputs (T,B,H), final state (B,H)."""
    act = torch.relu if relu else torch.tanh

    def step(gx, states):
        (h,) = states
        h = act(gx + h @ w_hh.t())
        return h, (h,)

    y, (hT,) = scan(step, project(x, w_ih, b_ih, b_hh), (h0,), batch_sizes, reverse)
    return y, hT


def lstm(x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0, batch_sizes, reverse):
    """torch.nn's LSTM (gates i, f, g, o; h = W_hr (o * tanh c) with a projection):
    outputs (T,B,P), final h (B,P), final c (B,H)."""

    def step(gx, states):
        h, c = states
        i, f, g, o = (gx + h @ w_hh.t()).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        if w_hr is not None:
            h = h @ w_hr.t()
        return h, (h, c)

    y, (hT, cT) = scan(step, project(x, w_ih, b_ih, b_hh), (h0, c0), batch_sizes, reverse)
    return y, hT, cT


def gru(x, w_ih, w_hh, b_ih, b_hh, h0, batch_sizes, reverse) -> tuple[Tensor, Tensor]:
    """torch.nn's GRU (gates r, z, n; the reset gate after the recurrent bias)."""

    def step(gx, states):
        (h,) = states
        xr, xz, xn = gx.chunk(3, dim=1)
        hr, hz, hn = project(h[None], w_hh, b_hh)[0].chunk(3, dim=1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        h = (1 - z) * n + z * h
        return h, (h,)

    y, (hT,) = scan(step, project(x, w_ih, b_ih), (h0,), batch_sizes, reverse)
    return y, hT


def jordan(x, w_ih, w_ho, b_ih, b_ho, w_out, b_out, o0, batch_sizes, reverse, relu):
    """a_t = U x_t + W o_{t-1} + b, h_t = f(a_t), o_t = V h_t + c: hidden (T,B,H), outputs
    (T,B,O), final output (B,O)."""
    act = torch.relu if relu else torch.tanh
    H = w_ih.shape[0]

    def step(gx, states):
        (o,) = states
        h = act(gx + o @ w_ho.t())
        o = project(h[None], w_out, b_out)[0]
        return torch.cat((h, o), 1), (o,)

    ho, (oT,) = scan(step, project(x, w_ih, b_ih, b_ho), (o0,), batch_sizes, reverse)
    return ho[..., :H], ho[..., H:], oT


def use_plain_ops(x: Tensor) -> bool:
    """Run a layer in these differentiable ops instead of its fused Function: under a
    ``torch.func`` transform (the fused kernels cannot see through its wrapped tensors) and
    for an empty batch (nothing to fuse, and torch.nn still connects the output to the
    weights)."""
    return x.shape[1] == 0 or torch._C._are_functorch_transforms_active()


def differentiable_grads(
    forward: Callable[..., tuple[Tensor, ...]],
    inputs: tuple[Tensor | None, ...],
    grad_outputs: tuple[Tensor, ...],
) -> tuple[Tensor | None, ...]:
    """The vector-Jacobian product of ``forward(*inputs)`` with ``grad_outputs``, as a graph
    autograd can differentiate again (for a Function's backward under ``create_graph``).
    None where an input is None or does not require grad."""
    wanted = [i for i, t in enumerate(inputs) if t is not None and t.requires_grad]
    with torch.enable_grad():
        outputs = forward(*inputs)
        grads = torch.autograd.grad(
            outputs,
            [inputs[i] for i in wanted],
            grad_outputs,
            create_graph=True,
            allow_unused=True,
        )
    result: list[Tensor | None] = [None] * len(inputs)
    for i, g in zip(wanted, grads, strict=True):
        result[i] = g if g is not None else torch.zeros_like(inputs[i])
    return tuple(result)
