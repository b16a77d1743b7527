"""rnnkit.RNNCell / LSTMCell / GRUCell against torch.nn's cells with the same state_dict.

Every mode, bias, batched and unbatched input, with and without an initial state, float64
(to 1e-9) and float32 (to 2e-5), on every kernel: the output state(s) and the gradients of the
input, the state(s) and every parameter.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnkit

I, H, B = 4, 5, 3
MODES = {
    "rnn_tanh": ("RNNCell", {}),
    "rnn_relu": ("RNNCell", {"nonlinearity": "relu"}),
    "lstm": ("LSTMCell", {}),
    "gru": ("GRUCell", {}),
}
TOL = {torch.float64: 1e-9, torch.float32: 2e-5}


def run(cell, x, state, upstream=None):
    leaf = x.clone().requires_grad_()
    leaves = [s.clone().requires_grad_() for s in state]
    hx = None if not leaves else (tuple(leaves) if len(leaves) == 2 else leaves[0])
    out = cell(leaf, hx)
    outs = list(out) if isinstance(out, tuple) else [out]
    if upstream is None:
        gen = torch.Generator().manual_seed(1)
        upstream = [torch.randn(o.shape, dtype=o.dtype, generator=gen) for o in outs]
    cell.zero_grad()
    sum((o * g).sum() for o, g in zip(outs, upstream, strict=True)).backward()
    grads = [leaf.grad, *(s.grad for s in leaves)]
    grads += [p.grad for _, p in sorted(cell.named_parameters())]
    return [o.detach() for o in outs] + grads, upstream


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("with_h", [False, True], ids=["no_h", "h"])
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("mode", MODES)
def test_cell_matches_torch(mode, bias, batched, with_h, dtype, kernel):
    name, extra = MODES[mode]
    reference = getattr(nn, name)(I, H, bias=bias, **extra, dtype=dtype)
    ours = getattr(rnnkit, name)(I, H, bias=bias, **extra, dtype=dtype, kernel=kernel)
    ours.load_state_dict(reference.state_dict(), strict=True)
    gen = torch.Generator().manual_seed(0)
    lead = (B,) if batched else ()
    x = torch.randn(*lead, I, dtype=dtype, generator=gen)
    n_states = 2 if name == "LSTMCell" else 1
    state = [torch.randn(*lead, H, dtype=dtype, generator=gen) for _ in range(n_states)]
    expected, upstream = run(reference, x, state if with_h else [])
    got, _ = run(ours, x, state if with_h else [], upstream)
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert g is not None and g.shape == e.shape, f"tensor #{i}"
        torch.testing.assert_close(g, e, atol=TOL[dtype], rtol=TOL[dtype], msg=f"tensor #{i}")


@pytest.mark.parametrize("mode", MODES)
def test_cell_parameters_and_initialisation_as_torch(mode):
    name, extra = MODES[mode]
    torch.manual_seed(3)
    reference = getattr(nn, name)(I, H, **extra)
    torch.manual_seed(3)
    ours = getattr(rnnkit, name)(I, H, **extra)
    assert list(ours.state_dict()) == list(reference.state_dict())
    for key, value in reference.state_dict().items():
        assert torch.equal(ours.state_dict()[key], value), key
    assert repr(ours) == repr(reference)


def test_cell_runs_the_hand_written_backward():
    """The step goes through rnnkit's LSTM operator (and its autograd formula), not ATen's
    fused cell."""
    cell = rnnkit.LSTMCell(I, H, kernel="reference")
    h, _ = cell(torch.randn(B, I))
    assert "rnnkit_lstm" in type(h.grad_fn).__name__
