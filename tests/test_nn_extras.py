"""The extras beyond torch.nn (learned initial state, kernel choice) and train/eval dropout.

The learned initial state is checked against autograd through an independent plain-PyTorch
loop (written here from the equations, one sequence at a time for packed input), float64 to
1e-9: outputs, final states and the gradients of every parameter, the initial states included.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit

T, B, I, H, P = 5, 3, 4, 5, 3
F64 = torch.float64
MODES = {
    "rnn_tanh": ("RNN", {}),
    "rnn_relu": ("RNN", {"nonlinearity": "relu"}),
    "lstm": ("LSTM", {}),
    "lstm_proj": ("LSTM", {"proj_size": P}),
    "gru": ("GRU", {}),
}


def _step(family: str, relu: bool, x, state, w):
    """One step of one layer and direction, straight from the equations."""
    w_ih, w_hh, b_ih, b_hh, w_hr = w
    gx = x @ w_ih.T + (b_ih if b_ih is not None else 0)
    gh = state[0] @ w_hh.T + (b_hh if b_hh is not None else 0)
    if family == "RNN":
        return ((gx + gh).relu() if relu else (gx + gh).tanh(),)
    if family == "GRU":
        xr, xz, xn = gx.chunk(3, -1)
        hr, hz, hn = gh.chunk(3, -1)
        r, z = (xr + hr).sigmoid(), (xz + hz).sigmoid()
        n = (xn + r * hn).tanh()
        return ((1 - z) * n + z * state[0],)
    i, f, g, o = (gx + gh).chunk(4, -1)
    c = f.sigmoid() * state[1] + i.sigmoid() * g.tanh()
    h = o.sigmoid() * c.tanh()
    return (h if w_hr is None else h @ w_hr.T, c)


def plain_stack(module, x, state):
    """x (L, I) one sequence, state a tuple of (num_layers*D, ·) -> (out (L, D*H), finals)."""
    family = type(module).__name__
    relu = getattr(module, "nonlinearity", "tanh") == "relu"
    suffixes = ["", "_reverse"] if module.bidirectional else [""]
    finals = [[] for _ in state]
    for layer in range(module.num_layers):
        outs = []
        for d, suffix in enumerate(suffixes):
            w = [
                getattr(module, f"{k}_l{layer}{suffix}", None)
                for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
            ]
            s = tuple(st[layer * len(suffixes) + d] for st in state)
            steps = range(x.shape[0]) if not suffix else reversed(range(x.shape[0]))
            ys = [None] * x.shape[0]
            for t in steps:
                s = _step(family, relu, x[t], s, w)
                ys[t] = s[0]
            outs.append(torch.stack(ys))
            for k, f in enumerate(s):
                finals[k].append(f)
        x = torch.cat(outs, -1)
    return x, [torch.stack(f) for f in finals]


def learned_state(module):
    """The learned initial state(s) as (num_layers*D, ·) tensors, in torch.nn's order."""
    suffixes = ["", "_reverse"] if module.bidirectional else [""]
    prefixes = ["h0", "c0"] if module.mode == "LSTM" else ["h0"]
    return tuple(
        torch.stack(
            [getattr(module, f"{p}_l{k}{s}") for k in range(module.num_layers) for s in suffixes]
        )
        for p in prefixes
    )


def make_learned(mode: str, kernel: str, **kwargs):
    name, extra = MODES[mode]
    torch.manual_seed(0)
    module = getattr(rnnkit, name)(
        I, H, **extra, **kwargs, init_state="learned", kernel=kernel, dtype=F64
    )
    with torch.no_grad():  # start away from zero so a wrong broadcast would show
        for pname, p in module.named_parameters():
            if pname[:2] in ("h0", "c0"):
                p.normal_()
    return module


@pytest.mark.parametrize("form", ["batched", "unbatched", "packed"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("mode", MODES)
def test_learned_initial_state_matches_plain_loop(mode, bidirectional, form, kernel):
    module = make_learned(mode, kernel, num_layers=2, bidirectional=bidirectional)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(T, B, I, dtype=F64, generator=gen)
    lengths = torch.tensor([3, 5, 2])
    if form == "unbatched":
        out, final = module(x[:, 0])
        outs, finals = out.unsqueeze(1), [f.unsqueeze(1) for f in _tuple(final)]
        lengths = torch.tensor([T])
    elif form == "packed":
        out, final = module(pack_padded_sequence(x, lengths, enforce_sorted=False))
        outs, finals = pad_packed_sequence(out)[0], list(_tuple(final))
    else:
        out, final = module(x)
        outs, finals, lengths = out, list(_tuple(final)), torch.full((B,), T)
    # the reference: each sequence on its own from the learned state, through the plain loop
    ref_outs, ref_finals = [], []
    for b, n in enumerate(lengths.tolist()):
        state = learned_state(module)  # broadcast = the same state for every row
        y, f = plain_stack(module, x[:n, b], state)
        ref_outs.append(torch.nn.functional.pad(y, (0, 0, 0, outs.shape[0] - n)))
        ref_finals.append(f)
    ref_out = torch.stack(ref_outs, 1)
    ref_final = [torch.stack([f[k] for f in ref_finals], 1) for k in range(len(finals))]
    torch.testing.assert_close(outs, ref_out, atol=1e-9, rtol=1e-9)
    for got, exp in zip(finals, ref_final, strict=True):
        torch.testing.assert_close(got, exp, atol=1e-9, rtol=1e-9)
    # gradients of every parameter, learned initial states included
    gen = torch.Generator().manual_seed(2)
    tensors = [outs, *finals]
    refs = [ref_out, *ref_final]
    upstream = [torch.randn(t.shape, dtype=F64, generator=gen) for t in tensors]
    params = [p for _, p in sorted(module.named_parameters())]
    got = torch.autograd.grad(
        sum((t * u).sum() for t, u in zip(tensors, upstream, strict=True)), params
    )
    exp = torch.autograd.grad(
        sum((t * u).sum() for t, u in zip(refs, upstream, strict=True)), params
    )
    names = [n for n, _ in sorted(module.named_parameters())]
    assert any(n.startswith("h0_") for n in names)
    for name, g, e in zip(names, got, exp, strict=True):
        torch.testing.assert_close(g, e, atol=1e-9, rtol=1e-9, msg=name)


def _tuple(final):
    return final if isinstance(final, tuple) else (final,)


@pytest.mark.parametrize("mode", MODES)
def test_learned_state_parameters_and_state_dict(mode):
    name, extra = MODES[mode]
    module = getattr(rnnkit, name)(I, H, num_layers=2, bidirectional=True, **extra,
                                   init_state="learned")  # fmt: skip
    reference = getattr(nn, name)(I, H, num_layers=2, bidirectional=True, **extra)
    h_size = P if mode == "lstm_proj" else H
    learned = {n: p for n, p in module.named_parameters() if n not in reference.state_dict()}
    expected = {f"h0_l{k}{s}": (h_size,) for k in (0, 1) for s in ("", "_reverse")}
    if name == "LSTM":
        expected |= {f"c0_l{k}{s}": (H,) for k in (0, 1) for s in ("", "_reverse")}
    assert {n: tuple(p.shape) for n, p in learned.items()} == expected
    assert all(torch.equal(p, torch.zeros_like(p)) for p in learned.values())
    result = module.load_state_dict(reference.state_dict(), strict=False)
    assert sorted(result.missing_keys) == sorted(expected) and not result.unexpected_keys
    assert "init_state='learned'" in repr(module)


@pytest.mark.parametrize("mode", MODES)
def test_passed_state_overrides_learned_state(mode, kernel):
    module = make_learned(mode, kernel, num_layers=2)
    name, extra = MODES[mode]
    reference = getattr(nn, name)(I, H, num_layers=2, **extra, dtype=F64)
    torch_keys = reference.state_dict().keys()
    reference.load_state_dict({k: v for k, v in module.state_dict().items() if k in torch_keys})
    x = torch.randn(T, B, I, dtype=F64)
    hx = tuple(torch.randn(2, B, s.shape[-1], dtype=F64) for s in learned_state(module))
    hx = hx if len(hx) == 2 else hx[0]
    out, _ = module(x, hx)
    torch.testing.assert_close(out, reference(x, hx)[0], atol=1e-9, rtol=1e-9)
    out.sum().backward()
    assert all(p.grad is None for n, p in module.named_parameters() if n[:2] in ("h0", "c0"))


@pytest.mark.parametrize("family", ["RNN", "LSTM", "GRU"])
def test_dropout_between_layers_in_training_only(family):
    torch.manual_seed(0)
    module = getattr(rnnkit, family)(I, H, num_layers=3, dropout=0.5, dtype=F64)
    reference = getattr(nn, family)(I, H, num_layers=3, dropout=0.5, dtype=F64)
    reference.load_state_dict(module.state_dict())
    x = torch.randn(T, B, I, dtype=F64)
    first, second = module(x)[0], module(x)[0]
    assert not torch.allclose(first, second)
    module.eval(), reference.eval()
    first, second = module(x)[0], module(x)[0]
    assert torch.equal(first, second)
    torch.testing.assert_close(first, reference(x)[0], atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_kernel_choice_is_honoured(how, monkeypatch):
    """kernel='reference' (or RNNKIT_KERNEL=reference) runs the reference kernel's loop."""
    from rnnkit.kernels import reference as ref_kernel

    calls = []
    original = ref_kernel.gru_forward
    monkeypatch.setattr(ref_kernel, "gru_forward", lambda *a: calls.append(1) or original(*a))
    if how == "environment":
        monkeypatch.setenv("RNNKIT_KERNEL", "reference")
        module = rnnkit.GRU(I, H)
    else:
        monkeypatch.delenv("RNNKIT_KERNEL", raising=False)
        module = rnnkit.GRU(I, H, kernel="reference")
    module(torch.randn(T, B, I))
    assert calls == [1]
