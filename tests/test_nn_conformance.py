"""rnnkit.RNN / LSTM / GRU against torch.nn loaded with the same state_dict.

For every combination of mode (RNN tanh/relu, LSTM with and without projection, GRU), bias,
batch_first, bidirectional, num_layers 1-3, with and without an initial state, and input form
(batched, unbatched, packed sorted with enforce_sorted=True, packed unsorted with
enforce_sorted=False): outputs, final states, the input's and initial state's gradients and
every parameter's gradient equal torch.nn's, float64 to 1e-9. A sample of the grid also runs in
float32 (to 2e-5). The ``kernel`` fixture (tests/conftest.py) runs each case on every kernel.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

import rnnkit

T, B, I, H, P = 5, 3, 4, 5, 3
MODES = {
    "rnn_tanh": ("RNN", {}),
    "rnn_relu": ("RNN", {"nonlinearity": "relu"}),
    "lstm": ("LSTM", {}),
    "lstm_proj": ("LSTM", {"proj_size": P}),
    "gru": ("GRU", {}),
}
FORMS = ("batched", "unbatched", "packed_sorted", "packed_unsorted")
TOL = {torch.float64: 1e-9, torch.float32: 2e-5}


def make_pair(mode: str, kernel: str, dtype: torch.dtype, **kwargs):
    """(torch.nn module, rnnkit module) with identical parameters loaded strictly."""
    name, extra = MODES[mode]
    reference = getattr(nn, name)(I, H, **extra, **kwargs, dtype=dtype)
    ours = getattr(rnnkit, name)(I, H, **extra, **kwargs, dtype=dtype, kernel=kernel)
    ours.load_state_dict(reference.state_dict(), strict=True)
    return reference, ours


def make_input(form: str, batch_first: bool, dtype: torch.dtype, gen: torch.Generator):
    """-> (build(leaf) -> module input, leaf tensor data, batch size)."""
    x = torch.randn(T, B, I, dtype=dtype, generator=gen)  # (T, B, I)
    if form == "unbatched":
        return (lambda leaf: leaf), x[:, 0].clone(), None
    if batch_first:
        x = x.transpose(0, 1).contiguous()  # (B, T, I)
    if form == "batched":
        return (lambda leaf: leaf), x, B
    lengths, enforce = ([5, 4, 2], True) if form == "packed_sorted" else ([3, 5, 2], False)
    lengths = torch.tensor(lengths)

    def build(leaf):
        return pack_padded_sequence(leaf, lengths, batch_first=batch_first, enforce_sorted=enforce)

    return build, x, B


def make_state(mode: str, module, batch: int | None, dtype, gen) -> list[torch.Tensor]:
    """Random initial state(s) of the right shape: [h0] or [h0, c0]."""
    n = module.num_layers * (2 if module.bidirectional else 1)
    lead = (n,) if batch is None else (n, batch)
    if mode.startswith("lstm"):
        h_size = module.proj_size or H
        return [
            torch.randn(*lead, h_size, dtype=dtype, generator=gen),
            torch.randn(*lead, H, dtype=dtype, generator=gen),
        ]
    return [torch.randn(*lead, H, dtype=dtype, generator=gen)]


def run(module, build, x, state, upstream=None):
    """Forward then backward with fixed random upstream gradients.

    Returns (tensors to compare, upstream) where the tensors are the output, the final
    state(s), the gradients of x and the initial state(s), then every parameter's gradient.
    """
    leaf = x.clone().requires_grad_()
    leaves = [s.clone().requires_grad_() for s in state]
    hx = None if not leaves else (tuple(leaves) if len(leaves) == 2 else leaves[0])
    out, final = module(build(leaf), hx)
    final = list(final) if isinstance(final, tuple) else [final]
    data = out.data if isinstance(out, PackedSequence) else out
    results = [data, *final]
    if upstream is None:
        gen = torch.Generator().manual_seed(1)
        upstream = [torch.randn(r.shape, dtype=r.dtype, generator=gen) for r in results]
    loss = sum((r * g).sum() for r, g in zip(results, upstream, strict=True))
    module.zero_grad()
    loss.backward()
    grads = [leaf.grad, *(s.grad for s in leaves)]
    grads += [p.grad for _, p in sorted(module.named_parameters())]
    packing = None
    if isinstance(out, PackedSequence):
        packing = (out.batch_sizes, out.sorted_indices, out.unsorted_indices)
    return [r.detach() for r in results] + grads, upstream, packing


def check_case(mode, kernel, dtype, bias, batch_first, bidirectional, num_layers, with_h0, form):
    gen = torch.Generator().manual_seed(0)
    reference, ours = make_pair(
        mode,
        kernel,
        dtype,
        num_layers=num_layers,
        bias=bias,
        batch_first=batch_first,
        bidirectional=bidirectional,
    )
    build, x, batch = make_input(form, batch_first, dtype, gen)
    state = make_state(mode, reference, batch, dtype, gen) if with_h0 else []
    expected, upstream, expected_packing = run(reference, build, x, state)
    got, _, got_packing = run(ours, build, x, state, upstream)
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert g is not None and e is not None, f"missing gradient #{i}"
        assert g.shape == e.shape and g.dtype == e.dtype, f"#{i}: {g.shape} vs {e.shape}"
        torch.testing.assert_close(g, e, atol=TOL[dtype], rtol=TOL[dtype], msg=f"tensor #{i}")
    if expected_packing is not None:
        for g, e in zip(got_packing, expected_packing, strict=True):
            assert (g is None and e is None) or torch.equal(g, e)


_OPTIONS = (MODES, [True, False], [False, True], [False, True], [1, 2, 3], [False, True], FORMS)
_FULL = list(itertools.product(*_OPTIONS))
# The default run keeps every combination of everything but num_layers, which it cycles
# (each mode, form and direction still meets 1, 2 and 3 layers); `-m slow` runs all of it.
_SAMPLED = [
    (mode, bias, bf, bi, 1 + i % 3, h0, form)
    for i, (mode, bias, bf, bi, h0, form) in enumerate(
        itertools.product(*_OPTIONS[:4], _OPTIONS[5], FORMS)
    )
]
_NAMES = "mode,bias,batch_first,bidirectional,num_layers,with_h0,form"


@pytest.mark.parametrize(_NAMES, _SAMPLED)
def test_matches_torch_nn_float64(
    mode, bias, batch_first, bidirectional, num_layers, with_h0, form, kernel
):
    check_case(
        mode, kernel, torch.float64, bias, batch_first, bidirectional, num_layers, with_h0, form
    )


@pytest.mark.slow
@pytest.mark.parametrize(_NAMES, _FULL)
def test_matches_torch_nn_float64_full_grid(
    mode, bias, batch_first, bidirectional, num_layers, with_h0, form, kernel
):
    check_case(
        mode, kernel, torch.float64, bias, batch_first, bidirectional, num_layers, with_h0, form
    )


# float32: every mode and form, the other options cycled so that each value appears.
_F32 = [
    (mode, form, *opts)
    for (mode, form), opts in zip(
        itertools.product(MODES, FORMS),
        itertools.cycle(itertools.product([True, False], [False, True], [True, False], [2, 1, 3])),
    )
]


@pytest.mark.parametrize("mode,form,bias,batch_first,bidirectional,num_layers", _F32)
def test_matches_torch_nn_float32(mode, form, bias, batch_first, bidirectional, num_layers, kernel):
    check_case(
        mode, kernel, torch.float32, bias, batch_first, bidirectional, num_layers, True, form
    )


@pytest.mark.parametrize("mode", MODES)
def test_same_parameters_and_initialisation_as_torch(mode):
    """Same names, shapes and (same seed) values as torch.nn: the same U(-k, k) draw."""
    name, extra = MODES[mode]
    kwargs = dict(num_layers=2, bidirectional=True, **extra)
    torch.manual_seed(7)
    reference = getattr(nn, name)(I, H, **kwargs)
    torch.manual_seed(7)
    ours = getattr(rnnkit, name)(I, H, **kwargs)
    expected, got = reference.state_dict(), ours.state_dict()
    assert list(got) == list(expected)
    for key in expected:
        assert torch.equal(got[key], expected[key]), key
    assert repr(ours) == repr(reference)
    # and the reverse direction of loading: our state_dict loads into torch.nn strictly
    reference.load_state_dict(ours.state_dict(), strict=True)


@pytest.mark.parametrize("mode", MODES)
def test_time_loop_runs_in_rnnkit_kernels(mode, monkeypatch):
    """Every layer and direction calls the kernel's forward and backward once, never ATen's."""
    from rnnkit.kernels import reference as ref_kernel

    family = {"rnn_tanh": "elman", "rnn_relu": "elman", "lstm": "lstm", "lstm_proj": "lstm"}
    family = family.get(mode, "gru")
    calls = {"forward": 0, "backward": 0}
    for step in calls:
        original = getattr(ref_kernel, f"{family}_{step}")

        def counted(*args, _original=original, _step=step):
            calls[_step] += 1
            return _original(*args)

        monkeypatch.setattr(ref_kernel, f"{family}_{step}", counted)
    _, ours = make_pair(mode, "reference", torch.float64, num_layers=2, bidirectional=True)
    out, _ = ours(torch.randn(T, B, I, dtype=torch.float64))
    out.sum().backward()
    assert calls == {"forward": 4, "backward": 4}


@pytest.mark.parametrize("shape", [(3, 0, I), (1, 2, I)], ids=["empty_batch", "one_step"])
@pytest.mark.parametrize("mode", MODES)
def test_edge_shapes_like_torch(mode, shape):
    """An empty batch and a single time step give torch.nn's shapes and values."""
    reference, ours = make_pair(mode, "reference", torch.float64, bidirectional=True)
    x = torch.randn(shape, dtype=torch.float64)
    expected, got = reference(x), ours(x)
    torch.testing.assert_close(got, expected, atol=1e-9, rtol=1e-9)
