"""Mixed precision: bfloat16 and float16 layers and cells, and ``torch.autocast`` on CPU.

Three things a user relies on (``rnnkit.nn.precision`` states the rules):

1. **Dtypes like torch.nn.** Every layer and cell accepts bfloat16/float16 weights and inputs,
   and float32 weights under ``torch.autocast("cpu", dtype=bfloat16|float16)``, and returns
   the dtypes torch.nn returns run the same way, for outputs, final states and every gradient.
2. **Values like torch.nn**, to a tolerance per dtype: torch.nn rounds every intermediate to
   16 bits (its cell state too) and rnnkit keeps them in float32, so the two differ by a few
   16-bit roundings: ``TOL_TORCH`` (absolute and relative).
3. **Values like float64**: outputs and every gradient against the same layer in float64,
   the largest error relative to the largest magnitude of that tensor, within ``BOUND``
   (bfloat16 keeps 8 significant bits, 2^-8 = 3.9e-3; float16 11, 4.9e-4; measured errors
   are 2-5e-3 and 3-8e-4 at 20 steps).

One exception to comparing with torch.nn directly: on a CPU without bfloat16 RNN support in
oneDNN (no AVX-512), torch.nn's LSTM under autocast with a float32 padded input raises
("could not create a primitive descriptor"); where it runs, it returns the low dtype. rnnkit
returns the low dtype there too, and its values are compared with torch.nn's native LSTM
(oneDNN off).
"""

from __future__ import annotations

import copy
import itertools

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

import rnnkit

T, B, I, H, P = 6, 3, 5, 7, 4
LAYERS = {
    "rnn": ("RNN", {}),
    "lstm": ("LSTM", {}),
    "lstm_proj": ("LSTM", {"proj_size": P}),
    "gru": ("GRU", {}),
}
CELLS = ("RNNCell", "LSTMCell", "GRUCell")
# How the layer runs: (parameter dtype, input dtype, autocast dtype or None)
PRECISIONS = {
    "bf16": (torch.bfloat16, torch.bfloat16, None),
    "fp16": (torch.float16, torch.float16, None),
    "autocast_bf16": (torch.float32, torch.float32, torch.bfloat16),
    "autocast_fp16": (torch.float32, torch.float32, torch.float16),
    "autocast_bf16_input": (torch.float32, torch.bfloat16, torch.bfloat16),
}
FORMS = ("batched", "unbatched", "packed")
TOL_TORCH = {torch.bfloat16: 4e-2, torch.float16: 6e-3}
BOUND = {torch.bfloat16: 1.6e-2, torch.float16: 2.5e-3}
ONEDNN_NO_BF16 = "could not create a primitive descriptor"


def low_dtype(precision: str) -> torch.dtype:
    params, inp, autocast = PRECISIONS[precision]
    return autocast or inp


def run(module, x, form: str, precision: str, with_state: bool, upstream=None):
    """Forward + backward as a user would: -> (tensors, upstream), tensors = outputs, final
    states, then the gradients of x, of the initial states and of every parameter."""
    _, inp_dtype, autocast = PRECISIONS[precision]
    leaf = x.to(inp_dtype).requires_grad_()
    gen = torch.Generator().manual_seed(3)
    states = []
    if with_state and form != "unbatched":
        n = module.num_layers * (2 if module.bidirectional else 1)
        sizes = [getattr(module, "proj_size", 0) or H] + ([H] if module.mode == "LSTM" else [])
        states = [torch.randn(n, B, s, generator=gen).to(inp_dtype).requires_grad_() for s in sizes]
    inp = leaf
    if form == "packed":
        inp = pack_padded_sequence(leaf, torch.tensor([3, 6, 2]), enforce_sorted=False)
    elif form == "unbatched":
        inp = leaf[:, 0]
    hx = None if not states else (tuple(states) if len(states) == 2 else states[0])
    with torch.autocast("cpu", dtype=autocast or torch.bfloat16, enabled=autocast is not None):
        out, final = module(inp, hx)
    final = list(final) if isinstance(final, tuple) else [final]
    results = [out.data if isinstance(out, PackedSequence) else out, *final]
    if upstream is None:
        upstream = [torch.randn(r.shape, generator=gen) for r in results]
    loss = sum((r.float() * g).sum() for r, g in zip(results, upstream, strict=True))
    module.zero_grad()
    loss.backward()
    grads = [leaf.grad, *(s.grad for s in states)]
    grads += [p.grad for _, p in sorted(module.named_parameters())]
    return [r.detach() for r in results] + grads, upstream


def torch_nn_run(reference, x, form, precision, with_state, upstream):
    """torch.nn run the same way; its native LSTM where its oneDNN LSTM has no 16-bit path."""
    try:
        return run(reference, x, form, precision, with_state, upstream)[0], False
    except RuntimeError as exc:
        if ONEDNN_NO_BF16 not in str(exc):
            raise
    with torch.backends.mkldnn.flags(enabled=False):
        return run(reference, x, form, precision, with_state, upstream)[0], True


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """max |got - want| / max |want| (0 for an all-zero want matched exactly)."""
    diff = (got.double() - want.double()).abs().max().item()
    scale = want.double().abs().max().item()
    return diff / scale if scale > 0 else diff


_LAYER_CASES = list(itertools.product(LAYERS, PRECISIONS, FORMS))


@pytest.mark.parametrize("mode,precision,form", _LAYER_CASES)
def test_layer_dtypes_and_values_match_torch_nn(mode, precision, form):
    name, extra = LAYERS[mode]
    params, _, _ = PRECISIONS[precision]
    torch.manual_seed(0)
    reference = getattr(nn, name)(I, H, num_layers=2, **extra).to(params)
    ours = getattr(rnnkit, name)(I, H, num_layers=2, **extra).to(params)
    ours.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(T, B, I)
    got, upstream = run(ours, x, form, precision, with_state=True)
    want, native = torch_nn_run(reference, x, form, precision, True, upstream)
    low = low_dtype(precision)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g is not None and w is not None, f"missing tensor #{i}"
        expected = w.dtype
        if native and i < 3:  # outputs of torch.nn's oneDNN LSTM: the low dtype
            expected = low
        assert g.dtype == expected, f"#{i}: {g.dtype}, torch.nn {expected}"
        assert g.shape == w.shape
        tol = TOL_TORCH[low]
        torch.testing.assert_close(g.float(), w.float(), atol=tol, rtol=tol, msg=f"#{i}")


@pytest.mark.parametrize("cell,precision", list(itertools.product(CELLS, PRECISIONS)))
def test_cell_dtypes_and_values_match_torch_nn(cell, precision):
    params, inp_dtype, autocast = PRECISIONS[precision]
    torch.manual_seed(0)
    reference = getattr(nn, cell)(I, H).to(params)
    ours = getattr(rnnkit, cell)(I, H).to(params)
    ours.load_state_dict(reference.state_dict(), strict=True)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(B, I, generator=gen).to(inp_dtype)
    n_states = 2 if cell == "LSTMCell" else 1
    hx = [torch.randn(B, H, generator=gen).to(inp_dtype) for _ in range(n_states)]
    upstream = [torch.randn(B, H, generator=gen) for _ in range(n_states)]
    results = []
    for module in (ours, reference):
        leaf = x.clone().requires_grad_()
        states = [h.clone().requires_grad_() for h in hx]
        with torch.autocast("cpu", dtype=autocast or torch.bfloat16, enabled=bool(autocast)):
            out = module(leaf, tuple(states) if n_states == 2 else states[0])
        out = list(out) if isinstance(out, tuple) else [out]
        sum((o.float() * u).sum() for o, u in zip(out, upstream, strict=True)).backward()
        grads = [leaf.grad, *(s.grad for s in states), *(p.grad for p in module.parameters())]
        results.append([o.detach() for o in out] + grads)
    tol = TOL_TORCH[low_dtype(precision)]
    for i, (g, w) in enumerate(zip(*results, strict=True)):
        assert g.dtype == w.dtype, f"#{i}: {g.dtype}, torch.nn {w.dtype}"
        torch.testing.assert_close(g.float(), w.float(), atol=tol, rtol=tol, msg=f"#{i}")


def _float64_pairs():
    return {
        "rnn": lambda: rnnkit.RNN(8, 16, 2),
        "lstm": lambda: rnnkit.LSTM(8, 16, 2),
        "lstm_proj": lambda: rnnkit.LSTM(8, 16, proj_size=6),
        "gru": lambda: rnnkit.GRU(8, 16, bidirectional=True),
        "jordan": lambda: rnnkit.JordanRNN(8, 16, 5, 2),
    }


@pytest.mark.parametrize(
    "mode,precision", list(itertools.product(_float64_pairs(), ["bf16", "fp16", "autocast_bf16"]))
)
@pytest.mark.parametrize("packed", [False, True], ids=["padded", "packed"])
def test_outputs_and_gradients_within_bounds_of_float64(mode, precision, packed):
    torch.manual_seed(0)
    model = _float64_pairs()[mode]()
    reference = copy.deepcopy(model).double()
    params, inp_dtype, autocast = PRECISIONS[precision]
    model = model.to(params)
    x = torch.randn(20, 4, 8)
    lengths = torch.tensor([20, 17, 9, 3])

    def forward(module, leaf):
        inp = pack_padded_sequence(leaf, lengths) if packed else leaf
        with torch.autocast("cpu", dtype=autocast or torch.bfloat16, enabled=bool(autocast)):
            out = module(inp)[0]
        return out.data if packed else out

    leaf64 = x.double().requires_grad_()
    y64 = forward(reference, leaf64)
    upstream = torch.randn(y64.shape)
    y64.backward(upstream.double())
    leaf = x.to(inp_dtype).requires_grad_()
    y = forward(model, leaf)
    y.float().backward(upstream)
    low = low_dtype(precision)
    assert relative_error(y, y64) < BOUND[low]
    assert relative_error(leaf.grad, leaf64.grad) < BOUND[low]
    for (name, p), p64 in zip(model.named_parameters(), reference.parameters(), strict=True):
        assert p.grad.dtype == p.dtype  # float32 master weights get float32 gradients
        assert relative_error(p.grad, p64.grad) < BOUND[low], name


def test_master_weight_gradients_are_not_rounded_to_16_bits(monkeypatch):
    """Under autocast the float32 weights' gradients accumulate in float32: they equal the
    float32 layer's gradients on the rounded weights, and are not bfloat16 values. That is the
    rounded products path (``rnnkit.kernels.products``); the lowp path rounds each product's
    result, dW's included, as torch.nn does (tests/test_lowp_products.py bounds it)."""
    monkeypatch.setenv("RNNKIT_PRODUCTS", "rounded")
    torch.manual_seed(0)
    model = rnnkit.LSTM(8, 16)
    rounded = copy.deepcopy(model)
    with torch.no_grad():
        for p in rounded.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    x = torch.randn(10, 4, 8).to(torch.bfloat16).float()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = model(x)[0]
    y.float().sum().backward()
    rounded(x)[0].sum().backward()
    for p, q in zip(model.parameters(), rounded.parameters(), strict=True):
        assert p.grad.dtype == torch.float32
        torch.testing.assert_close(p.grad, q.grad, atol=1e-6, rtol=1e-5)
        assert not torch.equal(p.grad, p.grad.to(torch.bfloat16).float())


def test_jordan_dtypes():
    """JordanRNN: every output is a product's, so the low dtype, packed or not."""
    model = rnnkit.JordanRNN(5, 7, 3, num_layers=2)
    x = torch.randn(T, B, 5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, o_n = model(x)
        packed, o_p = model(pack_padded_sequence(x, torch.tensor([6, 4, 1])))
        teacher, _ = model(x, prev_targets=torch.randn(T, B, 3))
    assert y.dtype == o_n.dtype == packed.data.dtype == o_p.dtype == teacher.dtype
    assert y.dtype == torch.bfloat16
    y16, o16 = model.to(torch.float16)(x.half())
    assert y16.dtype == o16.dtype == torch.float16


def test_generation_step_rounds_each_weight_update_once():
    """One-token steps without gradients reuse the rounded weights until a weight changes."""
    torch.manual_seed(0)
    model = rnnkit.LSTM(6, 8)
    x = torch.randn(1, 2, 6)

    def step():
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            return model(x)[0]

    first = step()
    torch.testing.assert_close(step(), first, atol=0, rtol=0)
    with torch.no_grad():
        model.weight_ih_l0.mul_(-1)  # an optimiser-style in-place update
    after = step()
    fresh = copy.deepcopy(model)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected = fresh(x)[0]
    torch.testing.assert_close(after, expected, atol=0, rtol=0)
    assert not torch.equal(after, first)


def test_float64_is_left_alone_by_autocast():
    """autocast casts float32 only: a float64 layer stays float64 (as torch.nn's does)."""
    model = rnnkit.GRU(4, 5, dtype=torch.float64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, h = model(torch.randn(3, 2, 4, dtype=torch.float64))
    assert y.dtype == h.dtype == torch.float64


@pytest.mark.parametrize("proj", [0, 5], ids=["lstm", "lstm_proj"])
def test_bf16_generation_step_matches_the_sequence_path(proj, monkeypatch):
    """Without gradients a one-token bfloat16 LSTM call runs the step that reads 16-bit
    weights (cpu kernel); it gives what the general mixed-precision path gives on the rounded
    products path (the lowp path rounds the state too: tests/test_lowp_products.py)."""
    monkeypatch.setenv("RNNKIT_PRODUCTS", "rounded")
    torch.manual_seed(0)
    model = rnnkit.LSTM(6, 8, num_layers=2, proj_size=proj)
    x = torch.randn(1, 3, 6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with torch.no_grad():
            fast = model(x)
        general = model(x)  # gradients enabled: the general path
    for a, b in zip((fast[0], *fast[1]), (general[0], *general[1]), strict=True):
        assert a.dtype == b.dtype
        torch.testing.assert_close(a.float(), b.float(), atol=1e-6, rtol=1e-5)
