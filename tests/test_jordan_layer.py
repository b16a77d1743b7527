"""rnnkit.JordanRNN against autograd through an independent plain-PyTorch loop (float64, 1e-9).

Options: num_layers 1-3, bias, tanh/ReLU, batched, batch_first, unbatched, packed (sorted with
enforce_sorted=True and unsorted), with and without o0, free-running and teacher-forced, zero
and learned initial outputs. The reference runs each sequence on its own, so it also checks the
packed path. Reverse is not an option: the network is unidirectional by design.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

import rnnkit
from rnnkit.errors import RnnkitError

T, B, I, H, O = 5, 3, 4, 6, 2
F64 = torch.float64
FORMS = ("batched", "batch_first", "unbatched", "packed_sorted", "packed_unsorted")
PARAMS = ("weight_ih", "weight_ho", "bias_ih", "bias_ho", "weight_out", "bias_out")
LENGTHS = {"packed_sorted": [5, 4, 2], "packed_unsorted": [3, 5, 2]}


def plain_jordan(module, x, o0, prev_targets):
    """One sequence x (L, I), o0 (num_layers, O), prev_targets (L, O) | None -> (out, o_n)."""
    act = torch.relu if module.nonlinearity == "relu" else torch.tanh
    finals = []
    for k in range(module.num_layers):
        w = {n: getattr(module, f"{n}_l{k}", None) for n in PARAMS}
        forced = prev_targets is not None and k == module.num_layers - 1
        o, outs = o0[k], []
        for t in range(x.shape[0]):
            prev = prev_targets[t] if forced else o
            a = x[t] @ w["weight_ih"].T + prev @ w["weight_ho"].T
            if w["bias_ih"] is not None:
                a = a + w["bias_ih"] + w["bias_ho"]
            o = act(a) @ w["weight_out"].T
            if w["bias_out"] is not None:
                o = o + w["bias_out"]
            outs.append(o)
        x = torch.stack(outs)
        finals.append(o)
    return x, torch.stack(finals)


def _cases():
    grid = itertools.product(
        [True, False], ["tanh", "relu"], FORMS, [False, True], [False, True], ["zeros", "learned"]
    )
    # num_layers cycles through 1, 2, 3 so that each meets every form and mode
    return [(1 + i % 3, *case) for i, case in enumerate(grid)]


@pytest.mark.parametrize("num_layers,bias,nonlinearity,form,with_o0,forced,init_state", _cases())
def test_jordan_matches_plain_loop(
    num_layers, bias, nonlinearity, form, with_o0, forced, init_state, kernel
):
    torch.manual_seed(0)
    module = rnnkit.JordanRNN(
        I, H, O, num_layers=num_layers, nonlinearity=nonlinearity, bias=bias,
        batch_first=form == "batch_first", init_state=init_state, kernel=kernel, dtype=F64,
    )  # fmt: skip
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.startswith("o0_"):
                p.normal_()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(T, B, I, dtype=F64, generator=gen)  # (T, B, I)
    targets = torch.randn(T, B, O, dtype=F64, generator=gen)
    o0 = torch.randn(num_layers, B, O, dtype=F64, generator=gen) if with_o0 else None
    lengths = torch.tensor(LENGTHS.get(form, [T] * B))

    if form.startswith("packed"):
        sort = form == "packed_sorted"
        pack = lambda t: pack_padded_sequence(t, lengths, enforce_sorted=sort)  # noqa: E731
        out, o_n = module(pack(x), o0, pack(targets) if forced else None)
        assert isinstance(out, PackedSequence)
        out = pad_packed_sequence(out, total_length=T)[0]
    elif form == "unbatched":
        lengths = lengths[:1]
        out, o_n = module(x[:, 0], None if o0 is None else o0[:, 0],
                          targets[:, 0] if forced else None)  # fmt: skip
        assert out.shape == (T, O) and o_n.shape == (num_layers, O)
        out, o_n = out.unsqueeze(1), o_n.unsqueeze(1)
    elif form == "batch_first":
        out, o_n = module(x.transpose(0, 1), o0, targets.transpose(0, 1) if forced else None)
        out = out.transpose(0, 1)
    else:
        out, o_n = module(x, o0, targets if forced else None)

    refs, ref_finals = [], []
    for b, n in enumerate(lengths.tolist()):
        if o0 is not None:
            start = o0[:, b]
        elif init_state == "learned":
            start = torch.stack([getattr(module, f"o0_l{k}") for k in range(num_layers)])
        else:
            start = torch.zeros(num_layers, O, dtype=F64)
        y, f = plain_jordan(module, x[:n, b], start, targets[:n, b] if forced else None)
        refs.append(torch.nn.functional.pad(y, (0, 0, 0, T - n)))
        ref_finals.append(f)
    ref_out, ref_final = torch.stack(refs, 1), torch.stack(ref_finals, 1)
    assert o_n.shape == (num_layers, len(lengths), O)
    torch.testing.assert_close(out, ref_out, atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(o_n, ref_final, atol=1e-9, rtol=1e-9)

    gen = torch.Generator().manual_seed(2)
    up_out = torch.randn(out.shape, dtype=F64, generator=gen)
    up_fin = torch.randn(o_n.shape, dtype=F64, generator=gen)
    names, params = zip(*sorted(module.named_parameters()), strict=True)
    # a teacher-forced top layer never reads its o0: both sides give it a zero gradient
    unused = dict(allow_unused=True, materialize_grads=True)
    got = torch.autograd.grad((out * up_out).sum() + (o_n * up_fin).sum(), params, **unused)
    exp = torch.autograd.grad(
        (ref_out * up_out).sum() + (ref_final * up_fin).sum(), params, **unused
    )
    for name, g, e in zip(names, got, exp, strict=True):
        torch.testing.assert_close(g, e, atol=1e-9, rtol=1e-9, msg=name)


def test_jordan_input_and_o0_gradients(kernel):
    """dL/dx and dL/do0 also reach the caller (autograd of the plain loop as reference)."""
    module = rnnkit.JordanRNN(I, H, O, num_layers=2, kernel=kernel, dtype=F64)
    x = torch.randn(T, B, I, dtype=F64, requires_grad=True)
    o0 = torch.randn(2, B, O, dtype=F64, requires_grad=True)
    out, o_n = module(x, o0)
    got = torch.autograd.grad(out.sum() + o_n.square().sum(), (x, o0))
    refs = [plain_jordan(module, x[:, b], o0[:, b], None) for b in range(B)]
    ref_out = torch.stack([r[0] for r in refs], 1)
    ref_fin = torch.stack([r[1] for r in refs], 1)
    exp = torch.autograd.grad(ref_out.sum() + ref_fin.square().sum(), (x, o0))
    for g, e in zip(got, exp, strict=True):
        torch.testing.assert_close(g, e, atol=1e-9, rtol=1e-9)


def test_jordan_parameters():
    module = rnnkit.JordanRNN(I, H, O, num_layers=2, init_state="learned")
    shapes = {n: tuple(p.shape) for n, p in module.named_parameters()}
    assert shapes == {
        "weight_ih_l0": (H, I), "weight_ho_l0": (H, O), "bias_ih_l0": (H,), "bias_ho_l0": (H,),
        "weight_out_l0": (O, H), "bias_out_l0": (O,), "o0_l0": (O,),
        "weight_ih_l1": (H, O), "weight_ho_l1": (H, O), "bias_ih_l1": (H,), "bias_ho_l1": (H,),
        "weight_out_l1": (O, H), "bias_out_l1": (O,), "o0_l1": (O,),
    }  # fmt: skip
    bound = 1 / H**0.5
    for name, p in module.named_parameters():
        if name.startswith("o0_"):
            assert torch.equal(p, torch.zeros_like(p))
        else:
            assert p.abs().max() <= bound
    no_bias = rnnkit.JordanRNN(I, H, O, bias=False)
    assert sorted(n for n, _ in no_bias.named_parameters()) == [
        "weight_ho_l0", "weight_ih_l0", "weight_out_l0"
    ]  # fmt: skip


def test_jordan_dropout_in_training_only():
    module = rnnkit.JordanRNN(I, H, O, num_layers=3, dropout=0.5, dtype=F64)
    x = torch.randn(T, B, I, dtype=F64)
    assert not torch.allclose(module(x)[0], module(x)[0])
    module.eval()
    assert torch.equal(module(x)[0], module(x)[0])


@pytest.mark.parametrize(
    "kwargs,error",
    [
        (dict(hidden_size=0), ValueError),
        (dict(output_size=0), ValueError),
        (dict(num_layers=0), ValueError),
        (dict(input_size=4.0), TypeError),
        (dict(nonlinearity="gelu"), ValueError),
        (dict(bias=1), TypeError),
        (dict(batch_first="no"), TypeError),
        (dict(dropout=2.0), ValueError),
        (dict(init_state="ones"), ValueError),
        (dict(kernel="gpu"), ValueError),
    ],
)
def test_jordan_constructor_errors(kwargs, error):
    args = dict(input_size=I, hidden_size=H, output_size=O) | kwargs
    with pytest.raises(error) as info:
        rnnkit.JordanRNN(**args)
    assert isinstance(info.value, RnnkitError)
    assert next(iter(kwargs)).split("_")[0] in str(info.value)


@pytest.mark.parametrize(
    "call,error,must_contain",
    [
        (lambda m: m(torch.zeros(4, dtype=F64)), ValueError, "2D or 3D"),
        (lambda m: m(torch.zeros(T, B, 7, dtype=F64)), RuntimeError, "Expected 4, got 7"),
        (lambda m: m(torch.zeros(T, B, I)), ValueError, "dtype"),
        (lambda m: m(torch.zeros(T, B, I, dtype=F64), torch.zeros(2, 2, O, dtype=F64)),
         RuntimeError, "Expected o0 size (2, 3, 2)"),
        (lambda m: m(torch.zeros(T, B, I, dtype=F64), torch.zeros(2, O, dtype=F64)),
         RuntimeError, "3-D"),
        (lambda m: m(torch.zeros(T, B, I, dtype=F64), None, torch.zeros(T, B, 3, dtype=F64)),
         RuntimeError, "prev_targets"),
        (lambda m: m(pack_padded_sequence(torch.zeros(T, B, I, dtype=F64), [5, 4, 2]), None,
                     torch.zeros(T, B, O, dtype=F64)), ValueError, "PackedSequence"),
    ],
)  # fmt: skip
def test_jordan_forward_errors(call, error, must_contain):
    module = rnnkit.JordanRNN(I, H, O, num_layers=2, dtype=F64)
    with pytest.raises(error) as info:
        call(module)
    assert isinstance(info.value, RnnkitError)
    assert must_contain in str(info.value)
