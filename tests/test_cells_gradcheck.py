"""The hand-written BPTT of every cell, checked two independent ways (float64).

1. ``torch.autograd.gradcheck``: the analytical backward against central finite differences,
   for every option (bias, ReLU, projection, reverse, packed lengths) and the edge shapes
   T=1 and B=1.
2. Long sequences (T=200), where finite differences get slow: outputs and every gradient
   against autograd through an independent plain-PyTorch loop, to 1e-9.
"""

from __future__ import annotations

import pytest
import torch
from torch.autograd import gradcheck

from rnnkit.cells.elman import elman_layer
from rnnkit.cells.gru import gru_layer
from rnnkit.cells.jordan import jordan_layer, jordan_teacher_forced
from rnnkit.cells.lstm import lstm_layer

F64 = dict(dtype=torch.float64)


def _rand(*shape: int, scale: float = 1.0) -> torch.Tensor:
    return (torch.randn(*shape, **F64) * scale).requires_grad_()


def _inputs(T: int, B: int, I: int, packed: bool):
    """x (T,B,I) and batch_sizes; padded positions of packed rows hold zeros."""
    if not packed:
        return _rand(T, B, I), None
    lengths = torch.linspace(T, 1, B).round().long()  # non-increasing, longest first
    lengths[0] = T
    batch_sizes = torch.tensor([(lengths > t).sum().item() for t in range(T)])
    x = torch.randn(T, B, I, **F64)
    for t in range(T):
        x[t, batch_sizes[t] :] = 0
    return x.requires_grad_(), batch_sizes


def _params(kind: str, I: int, H: int, P: int, O: int, bias: bool):
    b = (lambda n: _rand(n)) if bias else (lambda n: None)
    if kind == "elman":
        return [_rand(H, I), _rand(H, H, scale=0.5), b(H), b(H)]
    if kind == "lstm":
        return [_rand(4 * H, I), _rand(4 * H, H), b(4 * H), b(4 * H), None]
    if kind == "lstm_proj":
        return [_rand(4 * H, I), _rand(4 * H, P), b(4 * H), b(4 * H), _rand(P, H)]
    if kind == "gru":
        return [_rand(3 * H, I), _rand(3 * H, H), b(3 * H), b(3 * H)]
    if kind == "jordan":
        return [_rand(H, I), _rand(H, O, scale=0.5), b(H), b(H), _rand(O, H, scale=0.5), b(O)]
    raise AssertionError(kind)


def _states(kind: str, B: int, H: int, P: int, O: int):
    if kind == "lstm":
        return [_rand(B, H), _rand(B, H)]
    if kind == "lstm_proj":
        return [_rand(B, P), _rand(B, H)]
    if kind == "jordan":
        return [_rand(B, O)]
    return [_rand(B, H)]


def _layer_fn(kind: str, relu: bool, reverse: bool, batch_sizes, kernel: str = "reference"):
    opts = dict(reverse=reverse, batch_sizes=batch_sizes, kernel=kernel)
    if kind == "elman":
        return lambda *a: elman_layer(*a, relu=relu, **opts)
    if kind in ("lstm", "lstm_proj"):
        return lambda *a: lstm_layer(*a, **opts)
    if kind == "gru":
        return lambda *a: gru_layer(*a, **opts)
    return lambda *a: jordan_layer(*a, relu=relu, **opts)


KINDS = [
    ("elman", False),
    ("elman", True),
    ("lstm", False),
    ("lstm_proj", False),
    ("gru", False),
    ("jordan", False),
    ("jordan", True),
]


@pytest.mark.parametrize("kind,relu", KINDS, ids=lambda v: str(v))
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("packed", [False, True], ids=["padded", "packed"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_gradcheck_every_option(kind, relu, reverse, packed, bias):
    torch.manual_seed(0)
    T, B, I, H, P, O = 5, 4, 3, 4, 2, 3
    x, batch_sizes = _inputs(T, B, I, packed)
    args = [x, *_params(kind, I, H, P, O, bias), *_states(kind, B, H, P, O)]
    assert gradcheck(_layer_fn(kind, relu, reverse, batch_sizes), args)


@pytest.mark.parametrize("kind,relu", KINDS, ids=lambda v: str(v))
@pytest.mark.parametrize("T,B", [(1, 3), (6, 1), (1, 1)], ids=["T1", "B1", "T1B1"])
def test_gradcheck_edge_shapes(kind, relu, T, B):
    torch.manual_seed(1)
    I, H, P, O = 3, 4, 2, 3
    x, _ = _inputs(T, B, I, packed=False)
    args = [x, *_params(kind, I, H, P, O, True), *_states(kind, B, H, P, O)]
    assert gradcheck(_layer_fn(kind, relu, False, None), args)


def test_gradcheck_jordan_teacher_forced():
    torch.manual_seed(2)
    T, B, I, H, O = 5, 3, 3, 4, 2
    args = [_rand(T, B, I), _rand(T, B, O), *_params("jordan", I, H, 0, O, True)]
    assert gradcheck(lambda *a: jordan_teacher_forced(*a), args)


# ---------------------------------------------------------------------------------------------
# Long sequences against an independent loop differentiated by autograd


def _plain_loop(kind: str, relu: bool, x, params, states):
    """The textbook recurrences, one step at a time, in differentiable PyTorch ops."""
    act = torch.relu if relu else torch.tanh
    outs = []
    if kind == "elman":
        w_ih, w_hh, b_ih, b_hh = params
        (h,) = states
        for x_t in x:
            h = act(x_t @ w_ih.T + b_ih + h @ w_hh.T + b_hh)
            outs.append(h)
        return torch.stack(outs), h
    if kind in ("lstm", "lstm_proj"):
        w_ih, w_hh, b_ih, b_hh, w_hr = params
        h, c = states
        for x_t in x:
            i, f, g, o = (x_t @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            h = h if w_hr is None else h @ w_hr.T
            outs.append(h)
        return torch.stack(outs), h, c
    if kind == "gru":
        w_ih, w_hh, b_ih, b_hh = params
        (h,) = states
        for x_t in x:
            xr, xz, xn = (x_t @ w_ih.T + b_ih).chunk(3, 1)
            hr, hz, hn = (h @ w_hh.T + b_hh).chunk(3, 1)
            r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
            n = torch.tanh(xn + r * hn)
            h = (1 - z) * n + z * h
            outs.append(h)
        return torch.stack(outs), h
    w_ih, w_ho, b_ih, b_ho, w_out, b_out = params
    (o,) = states
    hs = []
    for x_t in x:
        h = act(x_t @ w_ih.T + b_ih + o @ w_ho.T + b_ho)
        o = h @ w_out.T + b_out
        hs.append(h)
        outs.append(o)
    return torch.stack(hs), torch.stack(outs), o


@pytest.mark.parametrize("kind,relu", KINDS, ids=lambda v: str(v))
def test_long_sequence_matches_autograd(kind, relu):
    torch.manual_seed(3)
    T, B, I, H, P, O = 200, 3, 4, 6, 3, 4
    x, _ = _inputs(T, B, I, packed=False)
    params = _params(kind, I, H, P, O, True)
    if relu:  # keep a 200-step ReLU recurrence from blowing up
        with torch.no_grad():
            params[1].mul_(0.3)
    states = _states(kind, B, H, P, O)
    leaves = [t for t in [x, *params, *states] if t is not None]

    ours = _layer_fn(kind, relu, False, None)(x, *params, *states)
    theirs = _plain_loop(kind, relu, x, params, states)
    weights = [torch.randn_like(t) for t in theirs]  # a random loss touching every output
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)

    def loss(outputs):
        return sum((w * t).sum() for w, t in zip(weights, outputs, strict=True))

    g_ours = torch.autograd.grad(loss(ours), leaves)
    g_theirs = torch.autograd.grad(loss(theirs), leaves)
    for a, b in zip(g_ours, g_theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("kind,relu", KINDS, ids=lambda v: str(v))
def test_inference_path_matches_training_path(kind, relu):
    """Under no_grad the kernels skip saving activations; the results must not change."""
    torch.manual_seed(4)
    T, B, I, H, P, O = 7, 3, 4, 5, 2, 3
    x, batch_sizes = _inputs(T, B, I, packed=True)
    args = [x, *_params(kind, I, H, P, O, True), *_states(kind, B, H, P, O)]
    fn = _layer_fn(kind, relu, True, batch_sizes)
    with_grad = fn(*args)
    with torch.no_grad():
        without = fn(*args)
    for a, b in zip(with_grad, without, strict=True):
        torch.testing.assert_close(a.detach(), b, rtol=0, atol=0)
