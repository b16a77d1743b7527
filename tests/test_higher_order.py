"""Gradients of gradients, torch.func, empty batches and TorchScript, as torch.nn does them
(float64).

The fused Functions' hand-written backward is exact to first order but reads what the kernels
saved; under ``create_graph`` each Function recomputes its layer in plain differentiable ops
(``rnnkit.cells.differentiable``) so that a second derivative is right, never silently wrong.
Checked three ways: ``gradgradcheck`` (finite differences of the backward) for every cell,
kernel, padded and packed; a gradient-penalty step against torch.nn to 1e-9; ``torch.func``
against torch.nn.
"""

from __future__ import annotations

import pytest
import torch
from torch.autograd import gradgradcheck
from torch.func import functional_call, grad, jacrev

import rnnkit
from tests.test_cells_gradcheck import _inputs, _layer_fn, _params, _states

CELLS = [("elman", False), ("elman", True), ("lstm", False), ("lstm_proj", False),
         ("gru", False), ("jordan", False)]  # fmt: skip


@pytest.mark.parametrize("packed", [False, True], ids=["padded", "packed"])
@pytest.mark.parametrize("kernel", ["reference", "cpu"])
@pytest.mark.parametrize("kind, relu", CELLS)
def test_gradgradcheck_every_cell(kind, relu, kernel, packed):
    torch.manual_seed(0)
    T, B, I, H, P, O = 3, 3, 2, 2, 1, 2
    x, batch_sizes = _inputs(T, B, I, packed)
    params = _params(kind, I, H, P, O, bias=True)
    args = [x, *params, *_states(kind, B, H, P, O)]
    for reverse in (False, True):
        fn = _layer_fn(kind, relu, reverse, batch_sizes, kernel)
        assert gradgradcheck(fn, args, atol=1e-6, rtol=1e-4)


TORCH_PAIRS = {
    "rnn_tanh": (lambda: rnnkit.RNN(3, 4, 2, bidirectional=True),
                 lambda: torch.nn.RNN(3, 4, 2, bidirectional=True)),
    "rnn_relu": (lambda: rnnkit.RNN(3, 4, 2, nonlinearity="relu"),
                 lambda: torch.nn.RNN(3, 4, 2, nonlinearity="relu")),
    "lstm": (lambda: rnnkit.LSTM(3, 4, 2, bidirectional=True),
             lambda: torch.nn.LSTM(3, 4, 2, bidirectional=True)),
    "lstm_proj": (lambda: rnnkit.LSTM(3, 4, 2, proj_size=2),
                  lambda: torch.nn.LSTM(3, 4, 2, proj_size=2)),
    "gru": (lambda: rnnkit.GRU(3, 4, 2, bidirectional=True),
            lambda: torch.nn.GRU(3, 4, 2, bidirectional=True)),
}  # fmt: skip


def pair(name: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    make_mine, make_ref = TORCH_PAIRS[name]
    ref = make_ref().double()
    mine = make_mine().double()
    mine.load_state_dict(ref.state_dict())
    return mine, ref


@pytest.mark.parametrize("kernel", ["reference", "cpu"])
@pytest.mark.parametrize("name", sorted(TORCH_PAIRS))
def test_gradient_penalty_step_matches_torch_nn(name, kernel):
    """loss = sum y^2, penalty = |d loss / d params|^2, then the penalty's gradient."""
    mine, ref = pair(name)
    mine.kernel = kernel
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    grads = {}
    for label, model in (("rnnkit", mine), ("torch", ref)):
        y, _ = model(x)
        first = torch.autograd.grad((y**2).sum(), list(model.parameters()), create_graph=True)
        penalty = sum((g**2).sum() for g in first)
        grads[label] = torch.autograd.grad(penalty, list(model.parameters()))
    for a, b in zip(grads["rnnkit"], grads["torch"], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", sorted(TORCH_PAIRS))
def test_torch_func_grad_and_jacrev_match_torch_nn(name):
    mine, ref = pair(name)
    x = torch.randn(4, 2, 3, dtype=torch.float64)

    def loss(params, model, inp):
        return (functional_call(model, params, (inp,))[0] ** 2).sum()

    ours = grad(loss)({k: v.detach() for k, v in mine.named_parameters()}, mine, x)
    theirs = grad(loss)({k: v.detach() for k, v in ref.named_parameters()}, ref, x)
    for k in theirs:
        torch.testing.assert_close(ours[k], theirs[k], rtol=1e-10, atol=1e-12)
    jac_ours = jacrev(lambda inp: mine(inp)[0])(x)
    jac_theirs = jacrev(lambda inp: ref(inp)[0])(x)
    torch.testing.assert_close(jac_ours, jac_theirs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(TORCH_PAIRS))
def test_an_empty_batch_runs_forward_and_backward(name):
    mine, ref = pair(name)
    x = torch.randn(5, 0, 3, dtype=torch.float64)
    y, state = mine(x)
    y_ref, state_ref = ref(x)
    assert y.shape == y_ref.shape and y.requires_grad
    (y.sum() + sum(s.sum() for s in (state if isinstance(state, tuple) else (state,)))).backward()
    for p in mine.parameters():
        assert p.grad is not None and not p.grad.any()


def test_jordan_empty_batch_and_gradient_penalty():
    torch.manual_seed(0)
    model = rnnkit.JordanRNN(3, 4, output_size=2, num_layers=2).double()
    y, _ = model(torch.randn(5, 0, 3, dtype=torch.float64))
    y.sum().backward()
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    y, _ = model(x)
    (g,) = torch.autograd.grad((y**2).sum(), x, create_graph=True)
    (g**2).sum().backward()  # differentiable: no error, gradients reach the weights
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize(
    "module",
    [rnnkit.LSTM(2, 3), rnnkit.GRUCell(2, 3), rnnkit.JordanRNN(2, 3, output_size=2)],
    ids=["LSTM", "GRUCell", "JordanRNN"],
)
def test_torchscript_is_refused_with_a_pointer_to_torch_compile(module):
    with pytest.raises(RuntimeError, match="torch.compile"):
        torch.jit.script(module)
