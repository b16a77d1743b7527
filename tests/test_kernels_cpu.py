"""The fused C++ kernels against the reference kernels, gradient checks through the cells,
dispatch (RNNKIT_KERNEL, the fallback warning) and a smoke run of the benchmark function.

Tolerances: float32 to 1e-5 relative (plus 1e-5 absolute for entries near zero, where the two
kernels' different summation orders in the matrix products dominate); float64 to 1e-12.
"""

from __future__ import annotations

import json
import shutil
import warnings

import pytest
import torch

import rnnkit.kernels as kernels
from rnnkit.cells.elman import elman_layer
from rnnkit.cells.gru import gru_layer
from rnnkit.cells.lstm import lstm_layer
from rnnkit.kernels import reference as ref
from tests.conftest import compiler_missing, require_cpu_kernel


@pytest.fixture(scope="module")
def cpu():
    from rnnkit.kernels import cpu as module

    require_cpu_kernel()  # skips without a compiler; a build error is a failure
    return module


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request):
    """Both ways a time loop can run: one thread over the whole batch, or (tiny steps, several
    threads) each thread on its own slice of the batch; B = 5 makes the slices uneven."""
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)


T, B, I, H, P = 7, 5, 3, 8, 4
PACKED = torch.tensor([5, 5, 4, 3, 3, 1, 1])  # non-increasing, as in PackedSequence


def tol(dtype):
    return (
        {"rtol": 1e-5, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-12}
    )


def close(got, want, dtype):
    for g, w in zip(got, want, strict=True):
        if w is None:
            assert g is None
        else:
            torch.testing.assert_close(g, w, **tol(dtype))


def masked(t, batch_sizes):
    """Zero the inactive rows of a (T, B, X) gradient, as a PackedSequence's would be."""
    if batch_sizes is None:
        return t
    active = torch.arange(t.shape[1])[None, :] < batch_sizes[:, None]  # (T, B)
    return t * active[..., None].to(t.dtype)


CASES = [
    (dtype, bs, reverse)
    for dtype in (torch.float32, torch.float64)
    for bs in (None, PACKED)
    for reverse in (False, True)
]
IDS = [
    f"{str(d)[6:]}-{'packed' if b is not None else 'dense'}-{'rev' if r else 'fwd'}"
    for d, b, r in CASES
]


@pytest.mark.parametrize("dtype,bs,reverse", CASES, ids=IDS)
@pytest.mark.parametrize("relu", [False, True], ids=["tanh", "relu"])
def test_elman_matches_reference(cpu, threads, dtype, bs, reverse, relu):
    g = torch.Generator().manual_seed(0)
    gx = torch.randn(T, B, H, generator=g, dtype=dtype)
    w = 0.4 * torch.randn(H, H, generator=g, dtype=dtype)
    h0 = torch.randn(B, H, generator=g, dtype=dtype)
    want = ref.elman_forward(gx, w, h0, bs, reverse, relu, True)
    close(cpu.elman_forward(gx, w, h0, bs, reverse, relu, True), want, dtype)
    dy = masked(torch.randn(T, B, H, generator=g, dtype=dtype), bs)
    dhT = torch.randn(B, H, generator=g, dtype=dtype)
    args = (dy, dhT, want[0], h0, w, bs, reverse, relu)
    close(cpu.elman_backward(*args), ref.elman_backward(*args), dtype)


@pytest.mark.parametrize("dtype,bs,reverse", CASES, ids=IDS)
@pytest.mark.parametrize("proj", [False, True], ids=["plain", "proj"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_lstm_matches_reference(cpu, threads, dtype, bs, reverse, proj, bias):
    g = torch.Generator().manual_seed(1)
    p = P if proj else H
    x = torch.randn(T, B, I, generator=g, dtype=dtype)
    u = 0.4 * torch.randn(4 * H, I, generator=g, dtype=dtype)
    bias = torch.randn(4 * H, generator=g, dtype=dtype) if bias else None
    w = 0.4 * torch.randn(4 * H, p, generator=g, dtype=dtype)
    w_hr = 0.4 * torch.randn(P, H, generator=g, dtype=dtype) if proj else None
    h0 = torch.randn(B, p, generator=g, dtype=dtype)
    c0 = torch.randn(B, H, generator=g, dtype=dtype)
    fwd = (x, u, w, bias, w_hr, h0, c0, bs, reverse)
    want = ref.lstm_forward(*fwd, True)
    close(cpu.lstm_forward(*fwd, True), want, dtype)
    close(cpu.lstm_forward(*fwd, False), (*want[:3], None, None), dtype)
    dy = masked(torch.randn(T, B, p, generator=g, dtype=dtype), bs)
    dhT = torch.randn(B, p, generator=g, dtype=dtype)
    dcT = torch.randn(B, H, generator=g, dtype=dtype)
    args = (dy, dhT, dcT, want[3], want[4], c0, w, w_hr, bs, reverse)
    close(cpu.lstm_backward(*args), ref.lstm_backward(*args), dtype)


@pytest.mark.parametrize("dtype,bs,reverse", CASES, ids=IDS)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_gru_matches_reference(cpu, threads, dtype, bs, reverse, bias):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(T, B, I, generator=g, dtype=dtype)
    u = 0.4 * torch.randn(3 * H, I, generator=g, dtype=dtype)
    b_ih = torch.randn(3 * H, generator=g, dtype=dtype) if bias else None
    w = 0.4 * torch.randn(3 * H, H, generator=g, dtype=dtype)
    b_hh = torch.randn(3 * H, generator=g, dtype=dtype) if bias else None
    h0 = torch.randn(B, H, generator=g, dtype=dtype)
    fwd = (x, u, b_ih, w, b_hh, h0, bs, reverse)
    want = ref.gru_forward(*fwd, True)
    close(cpu.gru_forward(*fwd, True), want, dtype)
    close(cpu.gru_forward(*fwd, False), (*want[:2], None, None), dtype)
    dy = masked(torch.randn(T, B, H, generator=g, dtype=dtype), bs)
    dhT = torch.randn(B, H, generator=g, dtype=dtype)
    args = (dy, dhT, want[0], h0, want[2], want[3], w, bs, reverse)
    close(cpu.gru_backward(*args), ref.gru_backward(*args), dtype)


@pytest.mark.parametrize("proj", [0, P], ids=["plain", "proj"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_lstm_single_step_matches_reference(cpu, proj, bias):
    g = torch.Generator().manual_seed(3)
    p = proj or H
    x = torch.randn(1, B, I, generator=g)
    w_ih, w_hh = torch.randn(4 * H, I, generator=g), torch.randn(4 * H, p, generator=g)
    b_ih = torch.randn(4 * H, generator=g) if bias else None
    b_hh = torch.randn(4 * H, generator=g) if bias else None
    w_hr = torch.randn(proj, H, generator=g) if proj else None
    h0, c0 = torch.randn(B, p, generator=g), torch.randn(B, H, generator=g)
    args = (x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0)
    close(lstm_layer(*args, kernel="cpu"), lstm_layer(*args, kernel="reference"), torch.float32)


def _inputs(*shapes, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        (0.5 * torch.randn(*s, generator=g, dtype=torch.float64)).requires_grad_() for s in shapes
    ]


GRAD_CASES = [(None, False), (None, True), (PACKED[:4], False), (PACKED[:4], True)]
GRAD_IDS = ["dense-fwd", "dense-rev", "packed-fwd", "packed-rev"]


@pytest.mark.parametrize("bs,reverse", GRAD_CASES, ids=GRAD_IDS)
@pytest.mark.parametrize("relu", [False, True], ids=["tanh", "relu"])
def test_elman_gradcheck(cpu, bs, reverse, relu):
    x, w_ih, w_hh, b_ih, b_hh, h0 = _inputs((4, 5, 3), (H, 3), (H, H), (H,), (H,), (5, H))
    fn = lambda *a: elman_layer(*a, relu=relu, reverse=reverse, batch_sizes=bs, kernel="cpu")  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, w_ih, w_hh, b_ih, b_hh, h0))


@pytest.mark.parametrize("bs,reverse", GRAD_CASES, ids=GRAD_IDS)
@pytest.mark.parametrize("proj", [0, 3], ids=["plain", "proj"])
def test_lstm_gradcheck(cpu, bs, reverse, proj):
    p = proj or H
    shapes = [(4, 5, 3), (4 * H, 3), (4 * H, p), (4 * H,), (4 * H,), (5, p), (5, H)]
    x, w_ih, w_hh, b_ih, b_hh, h0, c0 = _inputs(*shapes, seed=1)
    w_hr = _inputs((proj, H), seed=2)[0] if proj else None
    fn = lambda *a: lstm_layer(*a, reverse=reverse, batch_sizes=bs, kernel="cpu")  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0))


@pytest.mark.parametrize("bs,reverse", GRAD_CASES, ids=GRAD_IDS)
def test_gru_gradcheck(cpu, bs, reverse):
    shapes = [(4, 5, 3), (3 * H, 3), (3 * H, H), (3 * H,), (3 * H,), (5, H)]
    x, w_ih, w_hh, b_ih, b_hh, h0 = _inputs(*shapes, seed=3)
    fn = lambda *a: gru_layer(*a, reverse=reverse, batch_sizes=bs, kernel="cpu")  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, w_ih, w_hh, b_ih, b_hh, h0))


# The float32 kernels evaluate tanh and sigmoid by their own rational approximations
# (csrc/fastmath.h). With an identity input weight (one per gate), zero recurrent weights and a
# zero state, a one-step layer's gates are the activations of its input, so the kernels'
# activations can be read directly and compared with float64 ones.
ACTIVATION_ARGS = torch.cat(
    [
        torch.linspace(-40.0, 40.0, 400_001),
        torch.logspace(-12, 0, 20_001),
        -torch.logspace(-12, 0, 20_001),
        torch.tensor([0.0, -0.0, float("inf"), -float("inf")]),
    ]
)
WIDTH = 64  # hidden units: a row of the gate pass is vectorised as in real layers


def _as_rows(values):
    """values padded to a (1, rows, WIDTH) input and the count of real entries."""
    pad = (-values.numel()) % WIDTH
    return torch.cat([values, torch.zeros(pad)]).view(1, -1, WIDTH), values.numel()


def _labelled(values, lstm, gru, elman):
    """(where, computed, float64 truth, function) for every place a kernel evaluates one:
    lstm = [i, f, g, o], gru = [r, z, n], elman = tanh, each computed from ``values``."""
    x = values.double()
    sig, tanh = torch.sigmoid(x), torch.tanh(x)
    return [
        ("lstm i", lstm[0], sig, "sigmoid"), ("lstm f", lstm[1], sig, "sigmoid"),
        ("lstm g", lstm[2], tanh, "tanh"), ("lstm o", lstm[3], sig, "sigmoid"),
        ("gru r", gru[0], sig, "sigmoid"), ("gru z", gru[1], sig, "sigmoid"),
        ("gru n", gru[2], tanh, "tanh"), ("elman", elman, tanh, "tanh"),
    ]  # fmt: skip


def _activations(cpu, values):
    """_labelled for one-step layers with identity input weights (one per gate), zero
    recurrent weights and a zero state: every gate's pre-activation is ``values``."""
    x, n = _as_rows(values)
    h0 = torch.zeros(x.shape[1], WIDTH)
    eye = torch.eye(WIDTH)

    def zeros(gates):
        return torch.zeros(gates * WIDTH, WIDTH)

    def unpad(gates):  # (1, rows, G * WIDTH) -> G tensors of the values' length
        return [g.reshape(-1)[:n] for g in gates.split(WIDTH, dim=-1)]

    lstm = cpu.lstm_forward(x, eye.repeat(4, 1), zeros(4), None, None, h0, h0, None, False, True)
    gru = cpu.gru_forward(x, eye.repeat(3, 1), None, zeros(3), None, h0, None, False, True)
    elman = cpu.elman_forward(x, zeros(1), h0, None, False, False, False)
    return _labelled(values, unpad(lstm[3]), unpad(gru[2]), unpad(elman[0])[0])


# The bounds fastmath.h states (measured 2.85e-7, 1.61e-7 and 2.07e-7 relative on the
# development machine, with FMA; the margin is for compilers and CPUs that round differently).
MAX_ERROR = {"tanh": 3.5e-7, "sigmoid": 2e-7}
MAX_TANH_RELATIVE_NEAR_ZERO = 2.5e-7


def test_float32_activations_are_within_their_stated_error(cpu):
    values = ACTIVATION_ARGS[ACTIVATION_ARGS.isfinite()]
    near_zero = (values.abs() < 1) & (values != 0)
    for where, got, want, fn in _activations(cpu, values):
        err = (got.double() - want).abs()
        assert err.max() <= MAX_ERROR[fn], where
        if fn == "tanh":  # tanh(x) ~ x keeps its relative precision near zero
            rel = err[near_zero] / want[near_zero].abs()
            assert rel.max() <= MAX_TANH_RELATIVE_NEAR_ZERO, where
            assert torch.all(got[values == 0] == 0), where


def test_float32_activations_saturate_and_pass_nan(cpu):
    # Infinities would meet zero weights in the products (inf * 0 = nan), so these values come
    # in as the biases of zero-weight layers, which the gate pass adds after the products.
    values = torch.tensor([float("inf"), -float("inf"), 1e30, -1e30, float("nan")])
    h, x = values.numel(), torch.zeros(1, 1, 1)
    state = torch.zeros(1, h)
    lstm = cpu.lstm_forward(
        x, torch.zeros(4 * h, 1), torch.zeros(4 * h, h), values.repeat(4), None, state, state,
        None, False, True,
    )[3].view(4, h)  # fmt: skip
    gru = cpu.gru_forward(
        x, torch.zeros(3 * h, 1), values.repeat(3), torch.zeros(3 * h, h), None, state, None,
        False, True,
    )[2].view(3, h)  # fmt: skip
    elman = cpu.elman_forward(values.view(1, 1, h), torch.zeros(h, h), state, None, False,
                              False, False)[0].view(h)  # fmt: skip
    for where, got, want, fn in _labelled(values, lstm, gru, elman):
        assert (got[:4].double() - want[:4]).abs().max() <= MAX_ERROR[fn], where
        assert got[4].isnan(), where


def _big_lstm_inputs(seed=4):
    """An LSTM whose (T, B, H) outputs (512 KB) and (T, B, I) input gradients (320 KB) are large
    enough for the buffer cache."""
    g = torch.Generator().manual_seed(seed)
    t, b, i, h = 64, 32, 40, 64
    return (
        torch.randn(t, b, i, generator=g),
        0.3 * torch.randn(4 * h, i, generator=g),
        0.3 * torch.randn(4 * h, h, generator=g),
        torch.randn(4 * h, generator=g),
        None,
        torch.zeros(b, h),
        torch.zeros(b, h),
        None,
        False,
    )


def test_cached_buffers_are_reused_only_once_nothing_holds_them(cpu):
    args = _big_lstm_inputs()
    cpu.release_buffers()
    y1 = cpu.lstm_forward(*args, False)[0]
    kept = y1.clone()
    y2 = cpu.lstm_forward(*args, False)[0]
    assert y2.data_ptr() != y1.data_ptr()  # y1 is still held: a new buffer
    view = y1[3]  # a view alone keeps the storage from being handed out
    del y1
    y3 = cpu.lstm_forward(*args, False)[0]
    assert y3.data_ptr() != view.data_ptr() - 3 * view.numel() * view.element_size()
    assert torch.equal(view, kept[3]) and torch.equal(y2, kept) and torch.equal(y3, kept)
    freed_ptr = y2.data_ptr()
    del y2
    y4 = cpu.lstm_forward(*args, False)[0]
    assert y4.data_ptr() == freed_ptr  # reused, not allocated (and page-faulted) again
    assert torch.equal(y4, kept)
    del view, y3, y4
    assert cpu.release_buffers() >= 3 * kept.nbytes
    assert cpu.release_buffers() == 0


def test_every_kernel_provides_the_allocator(cpu):
    like = torch.zeros(2, dtype=torch.float64)
    for module in (ref, cpu):
        out = module.empty((300, 200), like)
        assert out.shape == (300, 200) and out.dtype == torch.float64 and out.is_contiguous()
    cpu.release_buffers()
    held = cpu.empty((300, 200), like)  # 480 KB: from the cache
    assert cpu.empty((300, 200), like).data_ptr() != held.data_ptr()
    assert cpu.release_buffers() == held.nbytes  # the second, dropped at once; not the held one


def test_cached_buffers_serve_shorter_sequences_and_respect_the_limit(cpu):
    x, *rest = _big_lstm_inputs()
    cpu.release_buffers()
    long_ptr = cpu.lstm_forward(x, *rest, False)[0].data_ptr()  # (64, 32, 64), dropped at once
    short = cpu.lstm_forward(x[:40], *rest, False)[0]  # 40/64 of it: fits, under twice the size
    assert short.data_ptr() == long_ptr  # the held buffer, not a new one
    want = ref.lstm_forward(x[:40], *rest, False)[0]
    torch.testing.assert_close(short, want, **tol(torch.float32))
    del short
    before = cpu.set_buffer_cache_limit(0)  # evicts every free buffer, caches nothing new
    try:
        assert cpu.release_buffers() == 0
        cpu.lstm_forward(x, *rest, False)
        assert cpu.release_buffers() == 0
    finally:
        cpu.set_buffer_cache_limit(before)
    with pytest.raises(ValueError, match="RNNKIT_BUFFER_CACHE_MB"):
        cpu._megabytes("lots")
    with pytest.raises(ValueError, match="RNNKIT_BUFFER_CACHE_MB"):
        cpu._megabytes("-1")
    assert cpu._megabytes("1.5") == 3 * 2**19


def test_overlapping_training_graphs_keep_their_saved_buffers(cpu):
    x, w_ih, w_hh, b, _, h0, c0, _, _ = _big_lstm_inputs(seed=5)
    x.requires_grad_()
    w_ih.requires_grad_()
    w_hh.requires_grad_()
    grads = {}
    for kernel in ("reference", "cpu"):
        # Two graphs alive at once: the second forward must not write into what the first saved,
        # and the first backward's gradients (dX, dW from cached buffers) must survive the second.
        y1, _, _ = lstm_layer(x, w_ih, w_hh, b, None, None, h0, c0, kernel=kernel)
        y2, _, _ = lstm_layer(2 * x, w_ih, w_hh, b, None, None, h0, c0, kernel=kernel)
        g1 = torch.autograd.grad(y1.square().sum(), (x, w_ih, w_hh))
        g2 = torch.autograd.grad(y2.square().sum(), (x, w_ih, w_hh))
        grads[kernel] = (*g1, *g2)
    # Weight gradients sum 2048 (t, b) terms in different orders: 1e-4, not the 1e-5 of outputs.
    # A buffer handed out while still in use would be off by O(1).
    for got, want in zip(grads["cpu"], grads["reference"], strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_env_var_forces_a_kernel(cpu, monkeypatch):
    monkeypatch.setenv("RNNKIT_KERNEL", "reference")
    assert kernels.get_kernel() is ref
    monkeypatch.setenv("RNNKIT_KERNEL", "cpu")
    assert kernels.get_kernel() is cpu
    monkeypatch.delenv("RNNKIT_KERNEL")
    assert kernels.get_kernel() is cpu  # the fastest available is the default on CPU
    assert kernels.get_kernel("reference") is ref  # a keyword beats the default


def test_failed_build_falls_back_with_one_warning(cpu, monkeypatch):
    def broken():
        raise OSError("no compiler found (simulated)")

    monkeypatch.setattr(cpu, "ensure_built", broken)
    monkeypatch.setattr(kernels, "_cpu_failure", None)
    monkeypatch.delenv("RNNKIT_KERNEL", raising=False)
    with pytest.warns(RuntimeWarning, match="no compiler found"):
        assert kernels.get_kernel() is ref
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second call stays silent
        assert kernels.get_kernel() is ref
    with pytest.raises(RuntimeError, match="requested but failed"):
        kernels.get_kernel("cpu")
    # The layers still run, on the reference kernels.
    x = torch.randn(3, 2, 4)
    y, _ = gru_layer(x, torch.randn(12, 4), torch.randn(12, 4), None, None, torch.zeros(2, 4))
    assert y.shape == (3, 2, 4)


def test_build_key_tracks_sources_and_cpu(cpu, monkeypatch):
    key = cpu.build_key()
    assert key == cpu.build_key()
    monkeypatch.setattr(cpu, "_cpu_flags", lambda: "flags : some other cpu")
    assert cpu.build_key() != key


def test_bench_smoke(cpu):
    from rnnkit import bench

    peak, results = bench.run_bench(
        cells=("rnn", "lstm", "gru"), configs=((3, 2, 4, 5),), repeats=1, generation_tokens=2
    )
    assert peak > 0
    assert [(r.cell, r.mode) for r in results] == [
        ("rnn", "train"), ("rnn", "infer"), ("lstm", "train"), ("lstm", "infer"),
        ("gru", "train"), ("gru", "infer"), ("lstm", "generate"),
    ]  # fmt: skip
    for r in results:
        assert r.rnnkit_ms > 0 and r.torch_ms > 0
        assert r.speedup > 0
        assert r.ceiling == pytest.approx(100 / r.torch_peak_pct)
    table = bench.format_table(peak, results)
    assert "speed-up" in table and len(table.splitlines()) == len(results) + 3
    # the kernel that ran, named: a failed build falls back to reference with a table that
    # looks plausible, and only a warning on stderr said so
    assert table.splitlines()[0].endswith("; rnnkit kernel: cpu")
    data = json.loads(json.dumps(bench.to_json(peak, results)))
    assert len(data["results"]) == len(results)
    assert {r["kernel"] for r in data["results"]} == {"cpu"}


def test_bench_names_the_reference_kernel_when_that_is_what_ran(monkeypatch):
    from rnnkit import bench

    monkeypatch.setenv("RNNKIT_KERNEL", "reference")
    peak, results = bench.run_bench(cells=("rnn",), configs=((3, 2, 4, 5),), repeats=1,
                                    generation=False)  # fmt: skip
    assert bench.format_table(peak, results).splitlines()[0].endswith("; rnnkit kernel: reference")


def test_paired_speedup_is_the_median_of_back_to_back_ratios():
    from rnnkit.bench import paired_speedup

    # The machine slows down 3x half-way: every pair still says 2x, the medians would not.
    ours = [1.0, 1.0, 1.0, 3.0, 3.0]
    theirs = [2.0, 2.0, 2.0, 6.0, 6.0]
    assert paired_speedup(ours, theirs) == pytest.approx(2.0)
    assert paired_speedup([1.0, 2.0, 4.0], [1.0, 3.0, 12.0]) == pytest.approx(1.5)


def test_paired_interval_holds_the_median_and_narrows_with_agreeing_repeats():
    from rnnkit.bench import paired_interval

    assert paired_interval([1.0, 3.0, 2.0], [2.0, 6.0, 4.0]) == (2.0, 2.0)  # every pair says 2x
    ratios = [0.9, 0.95, 1.0, 1.05, 1.1] * 8  # (40,) spread around 1
    low, high = paired_interval([1.0] * 40, ratios)
    assert 0.9 < low < 1.0 < high < 1.1
    assert paired_interval([1.0] * 40, ratios) == (low, high)  # seeded: a report reproduces
    assert paired_interval([1.0] * 40, ratios, level=0.5)[0] >= low


def test_alternate_runs_every_order_so_each_function_follows_each_other_alike():
    import itertools
    from collections import Counter

    from rnnkit.bench import alternate

    calls = []
    fns = [lambda k=k: calls.append(k) for k in range(3)]
    times = alternate(fns, repeats=6, warmup=0)
    repeats = [tuple(calls[i : i + 3]) for i in range(0, 18, 3)]
    assert len(set(repeats)) == 6  # the six orders of three
    follows = Counter((a, b) for order in repeats for a, b in itertools.pairwise(order))
    assert sorted(follows) == [(a, b) for a in range(3) for b in range(3) if a != b]
    assert set(follows.values()) == {2}  # each after each other twice, within repeats
    assert [len(t) for t in times] == [6, 6, 6]


def test_bench_cli_rejects_bad_input(capsys):
    from rnnkit.cli.main import main

    assert main(["bench", "--cells", "lstm,nope"]) == 2
    assert "unknown cell" in capsys.readouterr().err
    assert main(["bench", "--plot", "chart.jpg"]) == 2


def test_a_broken_source_fails_the_build_and_the_suite(tmp_path, monkeypatch):
    """A compile error in csrc/ must not turn the kernel tests into skips."""
    if compiler_missing():
        pytest.skip(compiler_missing())
    from rnnkit.kernels import cpu as module

    broken = tmp_path / "csrc"
    shutil.copytree(module._csrc(), broken)
    # every file broken on its first line by a fatal error (a missing header: GCC goes on past
    # an #error and parsed torch's headers in every file, 35 s on 2 cores)
    for source in broken.glob("*.cpp"):
        source.write_text('#include "deliberately_missing.h"\n' + source.read_text())
    monkeypatch.setattr(module, "_csrc", lambda: broken)
    monkeypatch.setattr(module, "_ext", None)
    monkeypatch.setenv("RNNKIT_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(
        RuntimeError, match="building the C.. kernels failed: .*deliberately_missing"
    ):
        module.ensure_built()
    monkeypatch.setattr("tests.conftest.cpu_build_error", lambda: "RuntimeError: broken")
    with pytest.raises(pytest.fail.Exception, match="do not build"):
        require_cpu_kernel()
