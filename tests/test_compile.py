"""rnnkit's layers under torch.compile, and the one-line refusals of torch.jit.trace and the
legacy ONNX exporter.

The time loops are custom operators (``torch.ops.rnnkit.*``, ``rnnkit/cells/_ops.py``):
``torch.library.opcheck`` checks every one (schema, fake implementation, autograd
registration, AOTAutograd with dynamic shapes). Then every layer, padded and packed, is
compiled with ``fullgraph=True`` (a graph break is an error) and its outputs and gradients
compared with eager mode: float32 to 2e-5, float64 to 1e-9.

Compiling takes seconds on two cores, so each module is compiled once and serves both input
forms, with the ``aot_eager`` backend: Dynamo and AOTAutograd, which trace the operators,
their fake implementations and autograd formulas, without generating C++. Inductor compiles
one layer here and the language model's training step (``test_lm_training_step_compiles``).
"""

from __future__ import annotations

import io

import pytest
import torch
from torch._dynamo.testing import CompileCounterWithBackend
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

import rnnkit
from rnnkit.cells.elman import elman_backward_op, elman_op
from rnnkit.cells.gru import gru_backward_op, gru_op
from rnnkit.cells.jordan import jordan_backward_op, jordan_op
from rnnkit.cells.lstm import lstm_backward_op, lstm_op, lstm_step_op
from rnnkit.nn.packing import first_batch_size
from tests.conftest import cpu_build_error, require_cpu_kernel

F64 = torch.float64
TOLERANCE = {torch.float32: 2e-5, torch.float64: 1e-9}
T, B, I, H, P, O = 5, 3, 4, 6, 2, 3
LENGTHS = torch.tensor([5, 3, 2])  # sorted: pack_padded_sequence's default enforce_sorted=True


@pytest.fixture(scope="module", autouse=True)
def many_compiled_modules():
    """Every layer here compiles the same forward code: more recompiles than Dynamo's default
    limit of 8, each of which fullgraph=True would turn into an error."""
    with torch._dynamo.config.patch(recompile_limit=256):
        yield


@pytest.fixture(scope="module", params=["reference", "cpu"])
def kernel(request):
    if request.param == "cpu":
        require_cpu_kernel()
    return request.param


# ---------------------------------------------------------------------------------------------
# opcheck: every operator


def _r(*shape, grad=True):
    return torch.randn(*shape, dtype=F64, requires_grad=grad)


def _forward_args(op, r, bias: bool, bs, save: bool, kernel: str):
    """Arguments of a forward op; ``r`` draws tensors (requiring grad or not)."""
    b = r if bias else (lambda *_: None)
    x = r(T, B, I)
    if op is elman_op:
        return (x, r(H, I), r(H, H), b(H), b(H), r(B, H), bs, True, False, save, kernel)
    if op is lstm_op:  # with a projection
        w = (r(4 * H, I), r(4 * H, P), b(4 * H), b(4 * H), r(P, H))
        return (x, *w, r(B, P), r(B, H), bs, bias, save, kernel)
    if op is gru_op:
        return (x, r(3 * H, I), r(3 * H, H), b(3 * H), b(3 * H), r(B, H), bs, False, save, kernel)
    w = (r(H, I), r(H, O), b(H), b(H), r(O, H), b(O))
    return (x, *w, r(B, O), bs, False, True, save, kernel)


def _backward_args(op, bs, kernel: str):
    """Arguments of a backward op: the saved tensors of its forward op, and gradients."""
    r = lambda *shape: _r(*shape, grad=False)  # noqa: E731
    fwd = {
        elman_backward_op: elman_op,
        lstm_backward_op: lstm_op,
        gru_backward_op: gru_op,
        jordan_backward_op: jordan_op,
    }[op]
    a = _forward_args(fwd, r, True, bs, True, kernel)
    out = fwd(*a)
    if op is elman_backward_op:  # dy, dhT, x, w_ih, w_hh, h0, y, ...
        return (
            r(T, B, H),
            r(B, H),
            a[0],
            a[1],
            a[2],
            a[5],
            out[0],
            bs,
            True,
            False,
            [True] * 4,
            kernel,
        )
    if op is lstm_backward_op:
        y, _, _, gates, c = out
        return (
            r(T, B, P),
            r(B, P),
            r(B, H),
            a[0],
            a[1],
            a[2],
            a[5],
            a[6],
            a[7],
            y,
            gates,
            c,
            bs,
            True,
            [True, True, False, True, True],
            kernel,
        )
    if op is gru_backward_op:
        y, _, gates, ghn = out
        return (
            r(T, B, H),
            r(B, H),
            a[0],
            a[1],
            a[2],
            a[5],
            y,
            gates,
            ghn,
            bs,
            False,
            [True, False, True, True, False],
            kernel,
        )
    h, o, _ = out
    return (
        r(T, B, H),
        r(T, B, O),
        r(B, O),
        a[0],
        a[1],
        a[2],
        a[5],
        a[7],
        h,
        o,
        bs,
        False,
        True,
        [True] * 6,
        kernel,
    )


def _op_cases(kernel: str):
    """(op, args) covering every op: bias or not, packed or not, save (with inputs that
    require grad) or not (inference, without). The forward ops take the four cases in which
    each pair of those three choices meets in all four of its combinations (a pairwise
    design: half of the eight, and opcheck's compiling checks cost a second a case)."""
    cases = []
    r = lambda *shape: _r(*shape, grad=False)  # noqa: E731
    packed = torch.tensor([3, 3, 2, 1, 1])
    for bias, bs, save in ((True, None, True), (True, packed, False), (False, None, False),
                           (False, packed, True)):  # fmt: skip
        for op in (elman_op, lstm_op, gru_op, jordan_op):
            cases.append((op, _forward_args(op, _r if save else r, bias, bs, save, kernel)))
    for bs in (None, packed):
        for op in (elman_backward_op, lstm_backward_op, gru_backward_op, jordan_backward_op):
            cases.append((op, _backward_args(op, bs, kernel)))
    step = (r(B, I), r(4 * H, I), r(4 * H, H), r(4 * H), None, None, r(B, H), r(B, H), kernel)
    cases.append((lstm_step_op, step))
    return cases


def test_opcheck_every_operator(kernel):
    cases = _op_cases(kernel)
    assert {op._name for op, _ in cases} == {
        n
        for n in ("elman", "lstm", "gru", "jordan", "lstm_step")
        + ("elman_backward", "lstm_backward", "gru_backward", "jordan_backward")
    }
    for op, args in cases:
        torch.library.opcheck(op, args)


def test_opcheck_first_batch_size():
    torch.library.opcheck(first_batch_size, (torch.tensor([3, 2, 2]),))


# ---------------------------------------------------------------------------------------------
# torch.compile(fullgraph=True) against eager, every layer, padded and packed


def _layer(kind: str, dtype: torch.dtype):
    torch.manual_seed(0)
    opts = dict(batch_first=True, dtype=dtype)
    if kind == "rnn":
        return rnnkit.RNN(I, H, 2, bidirectional=True, **opts)
    if kind == "rnn_relu":
        return rnnkit.RNN(I, H, nonlinearity="relu", **opts)
    if kind == "lstm":
        return rnnkit.LSTM(I, H, 2, bidirectional=True, **opts)
    if kind == "lstm_proj":
        return rnnkit.LSTM(I, H, proj_size=P, **opts)
    if kind == "gru":
        return rnnkit.GRU(I, H, 2, bidirectional=True, **opts)
    return rnnkit.JordanRNN(I, H, O, 2, **opts)


KINDS = ["rnn", "rnn_relu", "lstm", "lstm_proj", "gru", "jordan"]


def _inputs(form: str, dtype: torch.dtype):
    x = torch.randn(B, T, I, dtype=dtype, requires_grad=True)
    if form == "padded":
        return x, x
    return x, pack_padded_sequence(x, LENGTHS, batch_first=True)


def _flat(out):
    """Every tensor of a layer's output, a PackedSequence as its data."""
    if isinstance(out, PackedSequence):
        return [out.data]
    if isinstance(out, torch.Tensor):
        return [out]
    return [t for o in out for t in _flat(o)]


def _run(module, form, dtype, seed=1):
    """Outputs and the gradients of the input and every parameter under a random loss."""
    torch.manual_seed(seed)
    leaf, inp = _inputs(form, dtype)
    outs = _flat(module(inp))
    loss = sum((torch.randn_like(t) * t).sum() for t in outs)
    grads = torch.autograd.grad(loss, [leaf, *module.parameters()])
    return [t.detach() for t in outs], grads


@pytest.fixture(scope="module")
def compiled():
    """One eager module and its compiled twin per (kind, dtype), compiled once."""
    cache = {}

    def get(kind, dtype):
        if (kind, dtype) not in cache:
            module = _layer(kind, dtype)
            cache[kind, dtype] = module, torch.compile(module, fullgraph=True, backend="aot_eager")
        return cache[kind, dtype]

    return get


@pytest.mark.parametrize("dtype", [torch.float32, F64], ids=["f32", "f64"])
@pytest.mark.parametrize("form", ["padded", "packed"])
@pytest.mark.parametrize("kind", KINDS)
def test_compiled_layer_matches_eager(compiled, kind, form, dtype):
    module, fast = compiled(kind, dtype)
    outs, grads = _run(module, form, dtype)
    outs_c, grads_c = _run(fast, form, dtype)
    tol = TOLERANCE[dtype]
    for a, b in zip(outs + list(grads), outs_c + list(grads_c), strict=True):
        torch.testing.assert_close(b, a, rtol=tol, atol=tol)


@pytest.mark.parametrize("form", ["padded", "packed"])
@pytest.mark.parametrize("kind", KINDS)
def test_no_graph_break(kind, form):
    """``explain`` (plain ``torch.compile``, no fullgraph) finds one graph. On packed input
    the batch size is a size known only at run time; before ``first_batch_size`` made it
    without the dynamic-output-shape flag, Dynamo gave up the whole forward here and
    compiled its pieces apart: 4 breaks."""
    module = _layer(kind, torch.float32)
    _, inp = _inputs(form, torch.float32)
    explained = torch._dynamo.explain(module)(inp)
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1


@pytest.mark.parametrize("form", ["padded", "packed"])
@pytest.mark.parametrize("kind", KINDS)
def test_plain_compile_is_one_graph_forward_and_backward(kind, form):
    """Without fullgraph, forward and backward: Dynamo compiles one frame into one graph
    (AOTAutograd derives the backward from it) and gradients equal eager's."""
    module = _layer(kind, F64)
    counter = CompileCounterWithBackend("aot_eager")
    fast = torch.compile(module, backend=counter)
    outs, grads = _run(module, form, F64)
    outs_c, grads_c = _run(fast, form, F64)
    assert (counter.frame_count, counter.op_count > 0) == (1, True)
    for a, b in zip(outs + list(grads), outs_c + list(grads_c), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-9)


def test_packed_input_with_sorted_indices_and_state_compiles(compiled):
    """pack_padded_sequence(enforce_sorted=False) and an initial state given: B comes from
    their shapes, not from batch_sizes' values."""
    module, fast = compiled("lstm", F64)
    torch.manual_seed(2)
    x = torch.randn(B, T, I, dtype=F64)
    packed = pack_padded_sequence(
        x, torch.tensor([2, 5, 3]), batch_first=True, enforce_sorted=False
    )
    state = (torch.randn(4, B, H, dtype=F64), torch.randn(4, B, H, dtype=F64))
    for a, b in zip(_flat(module(packed, state)), _flat(fast(packed, state)), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", ["RNNCell", "LSTMCell", "GRUCell"])
def test_compiled_cell_matches_eager(name):
    torch.manual_seed(3)
    cell = getattr(rnnkit, name)(I, H, dtype=F64)
    fast = torch.compile(cell, fullgraph=True, backend="aot_eager")
    x = torch.randn(B, I, dtype=F64, requires_grad=True)
    for module in (cell, fast):
        out = _flat(module(x))
        grads = torch.autograd.grad(sum(t.sum() for t in out), [x, *cell.parameters()])
        if module is cell:
            want = out + list(grads)
    for a, b in zip(want, out + list(grads), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-9)
    explained = torch._dynamo.explain(cell)(x)
    assert (explained.graph_count, explained.graph_break_count) == (1, 0), explained.break_reasons


def test_compiled_generation_step_matches_eager():
    """No gradient, one token: the fused one-step operator (``rnnkit::lstm_step``)."""
    module = _layer("lstm", torch.float32).eval()
    fast = torch.compile(module, fullgraph=True, backend="aot_eager")
    x = torch.randn(B, 1, I)
    with torch.no_grad():
        for a, b in zip(_flat(module(x)), _flat(fast(x)), strict=True):
            torch.testing.assert_close(b, a, rtol=2e-5, atol=2e-5)
        explained = torch._dynamo.explain(module)(x)
    assert (explained.graph_count, explained.graph_break_count) == (1, 0), explained.break_reasons


def test_inductor_compiles_a_layer(kernel):
    module = rnnkit.LSTM(I, H, 2, batch_first=True, kernel=kernel)
    fast = torch.compile(module, fullgraph=True)
    outs, grads = _run(module, "padded", torch.float32)
    outs_c, grads_c = _run(fast, "padded", torch.float32)
    for a, b in zip(outs + list(grads), outs_c + list(grads_c), strict=True):
        torch.testing.assert_close(b, a, rtol=2e-5, atol=2e-5)


def test_lm_training_step_compiles():
    """The language model's loss and gradients, compiled by inductor, equal eager's."""
    from rnnkit.models.language_model import LanguageModel, LanguageModelConfig

    torch.manual_seed(4)
    config = LanguageModelConfig(vocab_size=13, hidden_size=8, num_layers=2, embed_dim=4)
    model = LanguageModel(config)
    x, y = torch.randint(0, 13, (3, 7)), torch.randint(0, 13, (3, 7))

    def step(m):
        logits, _ = m(x)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 13), y.reshape(-1))
        return [loss, *torch.autograd.grad(loss, list(model.parameters()))]

    want = step(model)
    got = step(torch.compile(model, fullgraph=True))
    for a, b in zip(want, got, strict=True):
        torch.testing.assert_close(b, a, rtol=2e-5, atol=2e-5)


def test_layers_are_not_torch_nn_instances_dynamo_refuses():
    """Dynamo refuses instances of torch.nn.RNN/GRU/LSTM; rnnkit's layers are RNNBase's."""
    for cls in (rnnkit.RNN, rnnkit.LSTM, rnnkit.GRU):
        layer = cls(I, H)
        assert isinstance(layer, torch.nn.RNNBase)
        assert not isinstance(layer, (torch.nn.RNN, torch.nn.GRU, torch.nn.LSTM))
    assert not torch._dynamo.config.allow_rnn  # nothing switched on for torch.nn's layers


# ---------------------------------------------------------------------------------------------
# Eager inference runs the ops' implementations directly; tracers still meet the ops


@pytest.fixture
def step_calls(monkeypatch):
    """Calls that went through ``rnnkit::lstm_step`` (the op, not its function)."""
    import rnnkit.cells.lstm as cells

    calls = []
    op = cells.lstm_step_op
    monkeypatch.setattr(cells, "lstm_step_op", lambda *a: calls.append(1) or op(*a))
    return calls


def test_eager_one_token_step_skips_the_dispatcher(step_calls):
    from torch.utils.flop_counter import FlopCounterMode

    layer = _layer("lstm", torch.float32).eval()
    calls = layer.num_layers * 2  # per forward: one per layer and direction
    x = torch.randn(B, 1, I)
    with torch.no_grad():
        direct = _flat(layer(x))
        assert step_calls == []
        with FlopCounterMode(display=False):  # a dispatch mode sees the op
            through_op = _flat(layer(x))
    assert len(step_calls) == calls
    for a, b in zip(direct, through_op, strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=0)


def _graph_ops(fn, *args) -> list[str]:
    with torch.no_grad():
        explained = torch._dynamo.explain(fn)(*args)
    return [str(n.target) for g in explained.graphs for n in g.graph.nodes]


def test_compiled_step_calls_the_cpu_kernels_registered_operator(step_calls):
    """With the cpu kernel, a compiled one-token step calls ``rnnkit::lstm_step_infer``, the
    operator csrc/ops.cpp registers in C++ (no trip through Python); with another kernel, and
    under torch.export, the step is the ``rnnkit::lstm_step`` op."""
    require_cpu_kernel()
    layer = _layer("lstm", torch.float32).eval()
    x = torch.randn(B, 1, I)
    ops = _graph_ops(layer, x)
    assert ops.count("rnnkit.lstm_step_infer.default") == layer.num_layers * 2
    assert "rnnkit.lstm_step.default" not in ops
    layer.kernel = "reference"
    assert _graph_ops(layer, x).count("rnnkit.lstm_step.default") == layer.num_layers * 2
    layer.kernel = None
    with torch.no_grad():
        exported = torch.export.export(layer, (x,))
    targets = [str(n.target) for n in exported.graph.nodes]
    assert targets.count("rnnkit.lstm_step.default") == layer.num_layers * 2


INFER_OPS = {"rnn": "elman_infer", "rnn_relu": "elman_infer", "lstm": "lstm_infer",
             "lstm_proj": "lstm_infer", "gru": "gru_infer"}  # fmt: skip


@pytest.mark.parametrize("packed", [False, True], ids=["padded", "packed"])
@pytest.mark.parametrize("kind", sorted(INFER_OPS))
def test_registered_cpu_ops_through_the_registered_operators_equals_eager(kind, packed):
    """Compiled inference on the C++-registered operators gives eager's outputs bit for bit
    (the same kernels, the same input product), padded and packed, and the one-token LSTM
    step on its own operator."""
    require_cpu_kernel()
    layer = _layer(kind, torch.float32).eval()
    x = torch.randn(B, T, I)
    if packed:
        x = pack_padded_sequence(x, torch.tensor([T, 3, 1]), batch_first=True)
    ops: list[str] = []

    def recording(gm, _):  # Dynamo's graph, run as traced: the operators, called as compiled
        ops.extend(str(n.target) for n in gm.graph.nodes)
        return gm.forward

    fast = torch.compile(layer, backend=recording, fullgraph=True)
    with torch.no_grad():
        for a, b in zip(_flat(layer(x)), _flat(fast(x)), strict=True):
            torch.testing.assert_close(b, a, rtol=0, atol=0)
    assert f"rnnkit.{INFER_OPS[kind]}.default" in ops
    layer_ops = [op for op in ops if op.startswith("rnnkit.") and "first_batch_size" not in op]
    assert all("_infer" in op for op in layer_ops), ops
    if kind.startswith("lstm") and not packed:
        assert "rnnkit.lstm_step_infer.default" in _graph_ops(layer, x[:, :1])


@pytest.mark.parametrize("dtype", [torch.float32, F64], ids=["f32", "f64"])
@pytest.mark.parametrize("kind", ["rnn", "rnn_relu"])
def test_compiled_elman_training_on_the_registered_operators_equals_eager(kind, dtype):
    """A compiled padded Elman training step runs the forward and the backward on the
    C++-registered operators (``ElmanTraining``) with eager's outputs and gradients (float32
    2e-5, float64 1e-9)."""
    require_cpu_kernel()
    layer = _layer(kind, dtype)
    x = torch.randn(B, T, I, dtype=dtype, requires_grad=True)
    ops: list[str] = []

    def recording(gm, inputs):  # AOTAutograd's forward and backward graphs, run as traced
        def record(graph, _):
            ops.extend(str(n.target) for n in graph.graph.nodes)
            return graph.forward

        return aot_autograd(fw_compiler=record, bw_compiler=record)(gm, inputs)

    from torch._dynamo.backends.common import aot_autograd

    fast = torch.compile(layer, backend=recording, fullgraph=True)
    grads = []
    for model in (layer, fast):
        y, h = model(x)
        (y.square().sum() + h.sum()).backward()
        grads.append([y, h, x.grad, *(p.grad for p in layer.parameters())])
        x.grad = None
        layer.zero_grad(set_to_none=True)
    tol = 2e-5 if dtype == torch.float32 else 1e-9
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(b, a, rtol=tol, atol=tol)
    assert "rnnkit.elman_train_backward.default" in ops
    assert not [op for op in ops if op.startswith("rnnkit.elman.") or "elman_backward" in op]


def test_the_registered_operators_pass_opcheck():
    require_cpu_kernel()
    from rnnkit.cells._ops import _cpu_operators_ready

    assert _cpu_operators_ready(None)  # loads the extension and registers the fakes
    r = lambda *shape: torch.randn(*shape, dtype=F64)  # noqa: E731
    packed = torch.tensor([3, 3, 2, 1, 1])
    for bs, h0 in ((None, r(B, H)), (packed, None)):
        args = (r(T, B, I), r(H, I), r(H, H), r(H), r(H), h0, bs, True, False)
        torch.library.opcheck(torch.ops.rnnkit.elman_infer.default, args)
    for bs, bias, w_hr in ((None, (r(4 * H), r(4 * H)), r(P, H)), (packed, (None, None), None)):
        p = P if w_hr is not None else H
        args = (r(T, B, I), r(4 * H, I), r(4 * H, p), *bias, w_hr, r(B, p), r(B, H), bs, True)
        torch.library.opcheck(torch.ops.rnnkit.lstm_infer.default, args)
    for bs, bias in ((None, (r(3 * H), r(3 * H))), (packed, (None, None))):
        args = (r(T, B, I), r(3 * H, I), r(3 * H, H), *bias, r(B, H), bs, False)
        torch.library.opcheck(torch.ops.rnnkit.gru_infer.default, args)
    step = (r(B, I), r(4 * H, I), r(4 * H, P), r(4 * H), None, r(P, H), r(B, P), r(B, H))
    torch.library.opcheck(torch.ops.rnnkit.lstm_step_infer.default, step)
    for reverse, need in ((False, (True,) * 4), (True, (False, True, False, True))):
        y = torch.tanh(r(T, B, H))
        args = (r(T, B, H), r(B, H), r(T, B, I), r(H, I), r(H, H), r(B, H), y, reverse, False)
        torch.library.opcheck(torch.ops.rnnkit.elman_train_backward.default, (*args, *need))


@pytest.mark.parametrize(
    "cls,module,functions",
    [
        (rnnkit.RNN, "elman", ("elman_forward", "elman_backward_op")),
        (rnnkit.GRU, "gru", ("gru_forward", "gru_backward_op")),
        (rnnkit.LSTM, "lstm", ("lstm_forward", "lstm_backward_op")),
    ],
    ids=["rnn", "gru", "lstm"],
)
def test_compiled_graph_calls_the_implementations_directly(monkeypatch, cls, module, functions):
    """A compiled graph runs its ops with autograd off (AOTAutograd's forward and backward
    graphs, and inference): the op's AutogradCPU kernel (``dispatch_directly``) then calls the
    implementation itself, not custom_op's four Python layers, which made small layers
    slower compiled than eager. The callers are read where the implementation asks for its
    kernel (``get_kernel``, a module global it looks up on each call)."""
    import importlib
    import inspect

    cells = importlib.import_module(f"rnnkit.cells.{module}")
    callers = []
    real = cells.get_kernel

    def spy(*args):
        impl = inspect.currentframe().f_back  # the op's implementation
        callers.append((impl.f_code.co_name, impl.f_back.f_code.co_name))
        return real(*args)

    monkeypatch.setattr(cells, "get_kernel", spy)
    layer = cls(I, H)
    fast = torch.compile(layer, backend="aot_eager", fullgraph=True)
    x = torch.randn(T, B, I, requires_grad=True)
    for _ in range(2):  # a graph's first run checks its ops' aliasing under a dispatch mode
        callers.clear()
        y, _ = fast(x)
        y.sum().backward()
        with torch.no_grad():
            fast(x)
    forward, backward = functions
    via = "autograd_cpu"
    # inference calls the cpu kernel's C++-registered operator instead (above), and so does
    # Elman's padded training step (ElmanTraining, below)
    registered = cpu_build_error() is None
    training = [] if registered and module == "elman" else [(forward, via), (backward, via)]
    assert callers == [*training, *([] if registered else [(forward, via)])]


# ---------------------------------------------------------------------------------------------
# Refusals: torch.jit.trace and the legacy ONNX exporter, in one line


MODULES = [
    ("LSTM", lambda: rnnkit.LSTM(I, H, batch_first=True), (B, T, I)),
    ("GRUCell", lambda: rnnkit.GRUCell(I, H), (B, I)),
    ("JordanRNN", lambda: rnnkit.JordanRNN(I, H, O, batch_first=True), (B, T, I)),
]


@pytest.mark.parametrize("name,make,shape", MODULES, ids=[m[0] for m in MODULES])
def test_jit_trace_is_refused_in_one_line(name, make, shape):
    with pytest.raises(RuntimeError, match="torch.jit.trace") as info:
        torch.jit.trace(make(), torch.randn(shape))
    assert "torch.compile" in str(info.value) and "torch.export" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name,make,shape", MODULES, ids=[m[0] for m in MODULES])
def test_legacy_onnx_export_is_refused_in_one_line(name, make, shape):
    """It used to write a graph of constants, the example's outputs, ignoring any input."""
    buffer = io.BytesIO()
    with pytest.raises(RuntimeError, match="legacy ONNX exporter") as info:
        torch.onnx.export(make(), (torch.randn(shape),), buffer, dynamo=False)
    assert "torch.export" in str(info.value) and "\n" not in str(info.value)
    assert buffer.getvalue() == b""


def test_the_constant_mark_is_all_that_assume_constant_result_sets():
    """``_ops`` marks ``_cpu_operators_ready`` as Dynamo's decorator would, without importing
    Dynamo; if a torch release makes the decorator do more, this says so."""
    from rnnkit.cells._ops import _constant_when_traced, _cpu_operators_ready

    def theirs():
        return True

    def ours():
        return True

    torch.compiler.assume_constant_result(theirs)
    _constant_when_traced(ours)
    assert vars(theirs) == vars(ours) == {"_dynamo_marked_constant": True}
    assert vars(_cpu_operators_ready)["_dynamo_marked_constant"] is True
