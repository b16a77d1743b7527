"""Reference kernels: the contract of ``rnnkit.kernels`` in plain PyTorch tensor ops.

Readable, always available, and the yardstick every faster kernel is tested against. Each
function runs one layer in one direction; see the package docstring for shapes. No autograd
graph is built here: the Functions in ``rnnkit.cells`` call these inside ``forward`` and
``backward``.
"""

from __future__ import annotations

import torch
from torch import Tensor

name = "reference"


def _active_rows(batch_sizes: Tensor | None, T: int, B: int) -> list[int]:
    return [B] * T if batch_sizes is None else [int(b) for b in batch_sizes.tolist()]


def _forward_order(T: int, reverse: bool) -> range:
    return range(T - 1, -1, -1) if reverse else range(T)


def _backward_order(T: int, reverse: bool) -> range:
    return range(T) if reverse else range(T - 1, -1, -1)


def _project(x: Tensor, w_ih: Tensor, bias: Tensor | None) -> Tensor:
    """x (T,B,I) W_ih^T (+ bias): the input pre-activations of every step, (T,B,G)."""
    gx = x @ w_ih.t()
    return gx if bias is None else gx + bias


def empty(shape: tuple[int, ...], like: Tensor) -> Tensor:
    """An uninitialised buffer with like's dtype and device (the contract's allocator)."""
    return like.new_empty(shape)


mm = torch.mm  # the products around the loop: float32, as the operands hold them


def previous_states(
    seq: Tensor,
    init: Tensor,
    batch_sizes: Tensor | None,
    reverse: bool,
    out: Tensor | None = None,
) -> Tensor:
    """The state each step started from: (T,B,X) from the states after each step and init (B,X).

    Forward: prev[0] = init, prev[t] = seq[t-1]. Reverse: prev[T-1] = init, prev[t] = seq[t+1],
    except that a packed row first active at step t (its last element) starts from init.
    ``out`` (T,B,X), possibly a strided view, receives the result instead of a new tensor.
    """
    prev = torch.empty_like(seq) if out is None else out  # (T, B, X)
    if not reverse:
        prev[0] = init
        prev[1:] = seq[:-1]
        return prev
    prev[-1] = init
    prev[:-1] = seq[1:]
    if batch_sizes is not None:
        sizes = batch_sizes.tolist()
        for t in range(len(sizes) - 1):
            lo, hi = sizes[t + 1], sizes[t]
            if hi > lo:
                prev[t, lo:hi] = init[lo:hi]
    return prev


# ---------------------------------------------------------------------------------------------
# Elman: h_t = f(gx_t + h_{t-1} W^T)


def elman_forward(
    gx: Tensor,
    w_hh: Tensor,
    h0: Tensor,
    batch_sizes: Tensor | None,
    reverse: bool,
    relu: bool,
    save: bool,
) -> tuple[Tensor, Tensor]:
    T, B, _ = gx.shape
    act = torch.relu if relu else torch.tanh
    rows = _active_rows(batch_sizes, T, B)
    y = gx.new_zeros(gx.shape)  # (T, B, H)
    h = h0.clone()  # (B, H)
    for t in _forward_order(T, reverse):
        b = rows[t]
        h_t = act(torch.addmm(gx[t, :b], h[:b], w_hh.t()))  # (b, H)
        h[:b] = h_t
        y[t, :b] = h_t
    return y, h


def elman_backward(
    dy: Tensor,
    dhT: Tensor,
    y: Tensor,
    h0: Tensor,
    w_hh: Tensor,
    batch_sizes: Tensor | None,
    reverse: bool,
    relu: bool,
) -> tuple[Tensor, Tensor]:
    T, B, _ = y.shape
    rows = _active_rows(batch_sizes, T, B)
    dg = torch.zeros_like(y)  # (T, B, H)
    dh = dhT.clone()  # (B, H): dL/dh_t from the steps after t
    for t in _backward_order(T, reverse):
        b = rows[t]
        y_t = y[t, :b]
        d = dh[:b] + dy[t, :b]
        d = d * (y_t > 0) if relu else d * (1 - y_t * y_t)
        dg[t, :b] = d
        dh[:b] = d @ w_hh
    return dg, dh


# ---------------------------------------------------------------------------------------------
# LSTM: [i f g o] = [σ σ tanh σ](x_t U^T + h_{t-1} W^T + b); c_t = f c_{t-1} + i g;
#       h_t = W_hr (o tanh c_t)  (W_hr = identity without projection)


def lstm_forward(
    x: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    bias: Tensor | None,
    w_hr: Tensor | None,
    h0: Tensor,
    c0: Tensor,
    batch_sizes: Tensor | None,
    reverse: bool,
    save: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor | None, Tensor | None]:
    T, B, _ = x.shape
    gx = _project(x, w_ih, bias)  # (T, B, 4H)
    P, H = h0.shape[1], c0.shape[1]
    rows = _active_rows(batch_sizes, T, B)
    y = gx.new_zeros(T, B, P)
    # Zeros, not empty: inactive rows meet zero gradients in the weight products, and 0 * NaN
    # from uninitialised memory would poison them.
    gates = gx.new_zeros(T, B, 4 * H) if save else None
    cs = gx.new_zeros(T, B, H) if save else None
    h, c = h0.clone(), c0.clone()
    for t in _forward_order(T, reverse):
        b = rows[t]
        pre = torch.addmm(gx[t, :b], h[:b], w_hh.t())  # (b, 4H)
        i, f, g, o = pre.chunk(4, 1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c_t = f * c[:b] + i * g  # (b, H)
        m_t = o * torch.tanh(c_t)  # (b, H)
        h_t = m_t if w_hr is None else m_t @ w_hr.t()  # (b, P)
        c[:b] = c_t
        h[:b] = h_t
        y[t, :b] = h_t
        if save:
            gates[t, :b] = torch.cat((i, f, g, o), 1)
            cs[t, :b] = c_t
    return y, h, c, gates, cs


def lstm_backward(
    dy: Tensor,
    dhT: Tensor,
    dcT: Tensor,
    gates: Tensor,
    c: Tensor,
    c0: Tensor,
    w_hh: Tensor,
    w_hr: Tensor | None,
    batch_sizes: Tensor | None,
    reverse: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    T, B, _ = gates.shape
    rows = _active_rows(batch_sizes, T, B)
    c_prev = previous_states(c, c0, batch_sizes, reverse)  # (T, B, H)
    dg = torch.zeros_like(gates)  # (T, B, 4H)
    dr = torch.zeros_like(dy) if w_hr is not None else None  # (T, B, P)
    dh, dc = dhT.clone(), dcT.clone()
    for t in _backward_order(T, reverse):
        b = rows[t]
        i, f, g, o = gates[t, :b].chunk(4, 1)
        tanh_c = torch.tanh(c[t, :b])
        dh_t = dh[:b] + dy[t, :b]  # (b, P)
        if w_hr is None:
            dm = dh_t
        else:
            dr[t, :b] = dh_t
            dm = dh_t @ w_hr  # (b, H)
        dc_t = dc[:b] + dm * o * (1 - tanh_c * tanh_c)
        d_pre = torch.cat(
            (
                dc_t * g * i * (1 - i),
                dc_t * c_prev[t, :b] * f * (1 - f),
                dc_t * i * (1 - g * g),
                dm * tanh_c * o * (1 - o),
            ),
            1,
        )  # (b, 4H)
        dg[t, :b] = d_pre
        dc[:b] = dc_t * f
        dh[:b] = d_pre @ w_hh
    return dg, dh, dc, dr


# ---------------------------------------------------------------------------------------------
# GRU (torch.nn's variant): gx = x_t W_ih^T + b_ih; r, z = σ(gx + gh);
#                           n = tanh(gx_n + r (W_hn h_{t-1} + b_hn)); h_t = (1 - z) n + z h_{t-1}


def gru_forward(
    x: Tensor,
    w_ih: Tensor,
    b_ih: Tensor | None,
    w_hh: Tensor,
    b_hh: Tensor | None,
    h0: Tensor,
    batch_sizes: Tensor | None,
    reverse: bool,
    save: bool,
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    T, B, _ = x.shape
    gx = _project(x, w_ih, b_ih)  # (T, B, 3H)
    H = h0.shape[1]
    rows = _active_rows(batch_sizes, T, B)
    y = gx.new_zeros(T, B, H)
    gates = gx.new_zeros(T, B, 3 * H) if save else None
    ghn = gx.new_zeros(T, B, H) if save else None
    h = h0.clone()
    for t in _forward_order(T, reverse):
        b = rows[t]
        h_prev = h[:b]
        gh = h_prev @ w_hh.t() if b_hh is None else torch.addmm(b_hh, h_prev, w_hh.t())  # (b,3H)
        x_r, x_z, x_n = gx[t, :b].chunk(3, 1)
        h_r, h_z, h_n = gh.chunk(3, 1)
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        h_t = n + z * (h_prev - n)
        h[:b] = h_t
        y[t, :b] = h_t
        if save:
            gates[t, :b] = torch.cat((r, z, n), 1)
            ghn[t, :b] = h_n
    return y, h, gates, ghn


def gru_backward(
    dy: Tensor,
    dhT: Tensor,
    y: Tensor,
    h0: Tensor,
    gates: Tensor,
    ghn: Tensor,
    w_hh: Tensor,
    batch_sizes: Tensor | None,
    reverse: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    T, B, _ = gates.shape
    rows = _active_rows(batch_sizes, T, B)
    h_prev = previous_states(y, h0, batch_sizes, reverse)  # (T, B, H)
    dgx = torch.zeros_like(gates)  # (T, B, 3H)
    dgh = torch.zeros_like(gates)  # (T, B, 3H)
    dh = dhT.clone()
    for t in _backward_order(T, reverse):
        b = rows[t]
        r, z, n = gates[t, :b].chunk(3, 1)
        dh_t = dh[:b] + dy[t, :b]
        dz = dh_t * (h_prev[t, :b] - n) * z * (1 - z)
        dn = dh_t * (1 - z) * (1 - n * n)
        dr = dn * ghn[t, :b] * r * (1 - r)
        dgx[t, :b] = torch.cat((dr, dz, dn), 1)
        dgh_t = torch.cat((dr, dz, dn * r), 1)  # (b, 3H)
        dgh[t, :b] = dgh_t
        dh[:b] = dh_t * z + dgh_t @ w_hh
    return dgx, dgh, dh


# ---------------------------------------------------------------------------------------------
# Jordan: h_t = f(gx_t + o_{t-1} W^T); o_t = h_t V^T + c


def jordan_forward(
    gx: Tensor,
    w_ho: Tensor,
    w_out: Tensor,
    b_out: Tensor | None,
    o0: Tensor,
    batch_sizes: Tensor | None,
    reverse: bool,
    relu: bool,
    save: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    T, B, H = gx.shape
    O = o0.shape[1]
    act = torch.relu if relu else torch.tanh
    rows = _active_rows(batch_sizes, T, B)
    hs = gx.new_zeros(T, B, H)
    outs = gx.new_zeros(T, B, O)
    o = o0.clone()  # (B, O)
    for t in _forward_order(T, reverse):
        b = rows[t]
        h_t = act(torch.addmm(gx[t, :b], o[:b], w_ho.t()))  # (b, H)
        o_t = h_t @ w_out.t() if b_out is None else torch.addmm(b_out, h_t, w_out.t())  # (b, O)
        o[:b] = o_t
        hs[t, :b] = h_t
        outs[t, :b] = o_t
    return hs, outs, o


def jordan_backward(
    dh: Tensor,
    do: Tensor,
    doT: Tensor,
    h: Tensor,
    o: Tensor,
    o0: Tensor,
    w_ho: Tensor,
    w_out: Tensor,
    batch_sizes: Tensor | None,
    reverse: bool,
    relu: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    T, B, _ = h.shape
    rows = _active_rows(batch_sizes, T, B)
    da = torch.zeros_like(h)  # (T, B, H)
    dout = torch.zeros_like(o)  # (T, B, O)
    d_o = doT.clone()  # (B, O): dL/do_t from the steps after t
    for t in _backward_order(T, reverse):
        b = rows[t]
        do_t = d_o[:b] + do[t, :b]
        dout[t, :b] = do_t
        h_t = h[t, :b]
        dh_t = dh[t, :b] + do_t @ w_out  # (b, H)
        a_t = dh_t * (h_t > 0) if relu else dh_t * (1 - h_t * h_t)
        da[t, :b] = a_t
        d_o[:b] = a_t @ w_ho
    return da, dout, d_o
