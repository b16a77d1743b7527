"""The mixed-precision product dispatch (rnnkit.kernels.products): the rule, the setting that
forces a path, and both paths' numbers against float64 and against each other.

Bounds. bfloat16 keeps 8 significant bits (unit roundoff 2^-9 = 0.002), float16 11 bits
(2^-12). The rounded path rounds the weights and layer inputs only; the lowp path also rounds
the carried state and the gradients going into each product, and each product's result. With
weights of torch.nn's init (|w| < 1/sqrt(H)) and tanh/sigmoid outputs in [-1, 1], a layer's
outputs and gradients are O(1): we bound the largest absolute error over a (T, B, H) output, or
over a gradient relative to that gradient's largest entry, by 0.05 for bfloat16 (25 units of
roundoff: two stacked layers, dozens of products feeding each output) and 0.01 for float16.
The output errors measured were about 0.001-0.005 in bfloat16 (10x under the bound); the two
paths differ from each other by about as much as each differs from float64, so the same bound
holds between them.
"""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

import rnnkit
from rnnkit.kernels import get_kernel, products

BOUND = {torch.bfloat16: 0.05, torch.float16: 0.01}
LAYERS = {
    "rnn": lambda: rnnkit.RNN(12, 24, num_layers=2),
    "lstm": lambda: rnnkit.LSTM(12, 24, num_layers=2),
    "lstm_proj": lambda: rnnkit.LSTM(12, 24, num_layers=2, proj_size=10),
    "gru": lambda: rnnkit.GRU(12, 24, num_layers=2),
}
LENGTHS = [9, 7, 7, 4, 2]  # (B,) for the packed runs, sorted


@pytest.fixture
def forced():
    """Set a path for one test and put the setting back afterwards."""
    previous = products.set_path(None)
    yield products.set_path
    products.set_path(previous)


def _run(model, x, packed: bool, grad: bool):
    """(output (T,B,·) float64, final states, the input's gradient or None) of model on x."""
    x = x.clone().requires_grad_(grad)
    inp = pack_padded_sequence(x, LENGTHS) if packed else x
    y, state = model(inp)
    if packed:
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(y)
    state = state if isinstance(state, tuple) else (state,)
    if grad:
        (y.double().sum() + sum(s.double().sum() for s in state)).backward()
    return y.detach().double(), [s.detach().double() for s in state], x.grad


def _mixed(make, low: torch.dtype, path: str, packed: bool, grad: bool, set_path):
    """The layer under autocast in ``low`` with ``path`` forced, beside its float64 twin."""
    torch.manual_seed(0)
    model = make()
    twin = make().double()
    twin.load_state_dict(model.state_dict())
    x = torch.randn(9, 5, 12)  # (T, B, I)
    set_path(path)
    with torch.autocast("cpu", dtype=low):
        got = _run(model, x, packed, grad)
    want = _run(twin, x.double(), packed, grad)
    grads = [p.grad.double() for p in model.parameters()] if grad else []
    want_grads = [p.grad for p in twin.parameters()] if grad else []
    return got, want, grads, want_grads


def _worst(got, want, grads, want_grads) -> float:
    """The largest error: absolute on outputs and states, relative to the largest entry on
    gradients (a gradient's scale depends on the loss)."""
    errs = [(got[0] - want[0]).abs().max()]
    errs += [(g - w).abs().max() for g, w in zip(got[1], want[1], strict=True)]
    if got[2] is not None:
        pairs = [(got[2].double(), want[2])] + list(zip(grads, want_grads, strict=True))
        errs += [(g - w).abs().max() / w.abs().max().clamp_min(1e-6) for g, w in pairs]
    return float(max(errs))


@pytest.mark.parametrize("cell", sorted(LAYERS))
@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("path", products.PATHS)
def test_bf16_training_matches_float64(cell, packed, path, forced):
    """Forward and backward, packed and padded, on both paths: within the bfloat16 bound."""
    err = _worst(*_mixed(LAYERS[cell], torch.bfloat16, path, packed, True, forced))
    assert err < BOUND[torch.bfloat16], f"{cell} {path}: {err:.4f}"


@pytest.mark.parametrize("cell", sorted(LAYERS))
def test_bf16_paths_agree_and_differ(cell, forced):
    """The two paths agree within the bound, and they are not the same arithmetic (so the
    lowp path really ran: it rounds the state, the rounded path does not)."""
    runs = {p: _mixed(LAYERS[cell], torch.bfloat16, p, False, True, forced) for p in products.PATHS}
    lowp, rounded = runs["lowp"], runs["rounded"]
    gap = _worst(lowp[0], rounded[0], lowp[2], rounded[2])
    assert 0 < gap < BOUND[torch.bfloat16], f"{cell}: paths differ by {gap:.4f}"


@pytest.mark.parametrize("cell", sorted(LAYERS))
@pytest.mark.parametrize("path", products.PATHS)
def test_bf16_inference_and_generation_step(cell, path, forced):
    """No gradients: a whole sequence, and one token at a time from the carried state (the
    generation step), both within the bound of float64."""
    torch.manual_seed(1)
    model, twin = LAYERS[cell](), None
    twin = LAYERS[cell]().double()
    twin.load_state_dict(model.state_dict())
    x = torch.randn(6, 3, 12)  # (T, B, I)
    forced(path)
    with torch.no_grad():
        want, _ = twin(x.double())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            whole, _ = model(x)
            state, steps = None, []
            for t in range(x.shape[0]):
                y, state = model(x[t : t + 1], state)
                steps.append(y)
    for got in (whole, torch.cat(steps)):
        err = float((got.double() - want).abs().max())
        assert err < BOUND[torch.bfloat16], f"{cell} {path}: {err:.4f}"


@pytest.mark.parametrize("cell", ["rnn", "lstm_proj", "gru"])
def test_fp16_forced_paths_match_float64(cell, forced):
    """float16 by the same dispatch (forced here: this project's CPUs lack AVX512-FP16)."""
    for path in products.PATHS:
        err = _worst(*_mixed(LAYERS[cell], torch.float16, path, False, True, forced))
        assert err < BOUND[torch.float16], f"{cell} {path}: {err:.5f}"


BACKWARDS = {"rnn": "elman_backward", "lstm": "lstm_backward", "gru": "gru_backward"}


@pytest.mark.parametrize("cell", sorted(BACKWARDS))
def test_backward_after_the_call_stays_lowp(cell, forced, monkeypatch):
    """The layers' custom operators resolve their kernel by name when they run, and backward()
    runs after the layer's call has left its mixed-precision context: the lowp forward's
    backward must still run on the 16-bit kernel (the name carries it, ``cpu+bf16``)."""
    calls = []
    name = BACKWARDS[cell]
    original = getattr(products.LowPrecisionKernel, name)

    def spy(self, *args):
        calls.append(self.name)
        return original(self, *args)

    monkeypatch.setattr(products.LowPrecisionKernel, name, spy)
    forced("lowp")
    model = LAYERS[cell]()
    x = torch.randn(9, 5, 12, requires_grad=True)  # (T, B, I)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, _ = model(x)
    y.float().sum().backward()
    assert calls == ["cpu+bf16"] * 2  # one per layer


def test_cells_follow_the_dispatch(forced):
    """LSTMCell in bfloat16 parameters (not autocast) on both paths, against float64."""
    torch.manual_seed(2)
    cell = rnnkit.LSTMCell(8, 16)
    twin = rnnkit.LSTMCell(8, 16).double()
    twin.load_state_dict(cell.state_dict())
    x = torch.randn(4, 8)  # (B, I)
    want = twin(x.double())[0].detach()
    low = cell.to(torch.bfloat16)
    for path in products.PATHS:
        forced(path)
        got = low(x.to(torch.bfloat16))[0].detach()
        assert got.dtype == torch.bfloat16
        assert float((got.double() - want).abs().max()) < BOUND[torch.bfloat16]


def test_rule_per_capability():
    """AMX -> lowp; no 16-bit units -> rounded; AVX-512 BF16 alone -> the measured choice."""
    bf16, fp16 = torch.bfloat16, torch.float16
    assert products.auto_path(bf16, frozenset({"amx_bf16", "avx512_bf16"}))[0] == "lowp"
    assert products.auto_path(bf16, frozenset())[0] == "rounded"
    assert products.auto_path(bf16, frozenset({"avx512_bf16"}))[0] == products._AVX512_BF16_PATH
    assert products.auto_path(fp16, frozenset({"amx_fp16"}))[0] == "lowp"
    assert products.auto_path(fp16, frozenset({"avx512_fp16"}))[0] == "lowp"
    assert products.auto_path(fp16, frozenset({"avx512_bf16"}))[0] == "rounded"


def test_setting_forces_either_path(forced, monkeypatch):
    """$RNNKIT_PRODUCTS and set_path decide; a bad value is a clear error; the kernel handed
    out inside a mixed call follows the path."""
    monkeypatch.setenv(products.ENV_VAR, "rounded")
    assert products.path(torch.bfloat16) == "rounded"
    assert "rounded" in products.describe() and "forced" in products.describe()
    with products.low_products(torch.bfloat16):
        assert get_kernel().name == "cpu"
    monkeypatch.setenv(products.ENV_VAR, "lowp")
    with products.low_products(torch.bfloat16):
        assert get_kernel().name == "cpu+bf16"
        assert get_kernel("reference").name == "reference"  # Jordan, reference: rounded
    assert get_kernel().name == "cpu"  # outside a mixed call: float32 products
    forced("rounded")  # set_path wins over the variable
    assert products.path(torch.bfloat16) == "rounded"
    forced(None)
    monkeypatch.setenv(products.ENV_VAR, "fast")
    with pytest.raises(ValueError, match="RNNKIT_PRODUCTS"):
        products.path(torch.bfloat16)
    with pytest.raises(ValueError):
        products.set_path("fast")


def test_small_steps_stay_rounded_on_avx512_bf16(forced, monkeypatch):
    """Auto on AVX-512 BF16 without AMX: a step under AVX512_BF16_MIN_FLOPS runs rounded (it
    measured slower in lowp), a larger one lowp; forced lowp runs every size in lowp."""
    monkeypatch.setattr(products, "capability", lambda: frozenset({"avx512_bf16"}))
    kern = get_kernel("cpu+bf16")
    small, big = torch.zeros(4 * 8, 8), torch.zeros(4 * 512, 512)  # (G, P)
    assert kern._step(4, small) is None and kern._step(64, big) == torch.bfloat16
    forced("lowp")
    assert kern._step(4, small) == torch.bfloat16


def test_kernel_by_name():
    """``cpu+bf16`` names the variant (custom ops carry kernels by name)."""
    kern = get_kernel("cpu+bf16")
    assert kern.low == torch.bfloat16 and get_kernel(kern.name) is kern
    with pytest.raises(ValueError, match="variant of the 'cpu' kernel"):
        get_kernel("reference+bf16")


def test_mm_low_is_a_16_bit_product():
    """mm_low rounds both operands and the result to bfloat16: exact on 16-bit values whose
    products and sums stay representable, and equal to ATen's bfloat16 mm otherwise."""
    a = torch.randn(5, 7).bfloat16().float()
    b = torch.randn(7, 3).bfloat16().float()
    got = products.mm_low(a, b, torch.bfloat16)
    assert got.dtype == torch.float32
    assert torch.equal(got, torch.mm(a.bfloat16(), b.bfloat16()).float())
    out = torch.empty(5, 3)
    assert products.mm_low(a, b, torch.bfloat16, out=out) is out
