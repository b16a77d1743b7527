"""Benchmark rnnkit's layers against torch.nn's in the same process.

For each cell (rnn, lstm, gru) and sequence configuration (T, B, I, H), both libraries get the
same weights and inputs; their runs alternate after warm-up, each repeat in the next of all
their orders (``alternate``), so that load from other processes hits both alike and neither
always runs after the other, and the medians are reported.

FLOPs count only the matrix products, 2 M N K each, with G gates (1 Elman, 3 GRU, 4 LSTM)::

    inference = 2 T B G H (I + H)                  (input projection + recurrent product)
    training  = 3 x inference                      (+ dX and dW_ih, + dh_{t-1} and dW_hh)

The training input requires grad, so both libraries do all of that work (dX included, as for
any layer above an embedding or another layer).

The speed-up is the median over the timed repeats of torch.nn's time over rnnkit's in the same
repeat (the two runs are adjacent), not the ratio of the medians: on a shared machine whose
speed drifts by tens of percent within a minute, adjacent pairs see the same conditions.

The machine's matrix-multiply peak is measured in the same run, before and after the cases,
as the best GFLOP/s of a 2048^3 float32 ``torch.mm`` (1024^3 in bfloat16); each figure is a
percentage of it.

Precision. ``precision="bf16"`` runs both libraries' float32 layers under
``torch.autocast("cpu", dtype=torch.bfloat16)`` (the backward outside it, as a trainer does).
On a CPU whose oneDNN has no bfloat16 LSTM (no AVX-512) torch.nn's padded LSTM raises under
autocast; its native path (oneDNN off) is timed instead and the row says so.

Which products ran. In bf16 rnnkit's layers multiply either in bfloat16 on ATen/oneDNN or in
float32 on bfloat16-rounded values, by the CPU's capability (``rnnkit.kernels.products``; the
``products`` argument forces one); the table's first line says which path ran and why, and
each row carries it.

Products-only bound: every matrix product of the case (the input projection, each time
step's recurrent product, and in training each step's dh product, dX and dW), each timed
alone in the precision's dtype with ATen, summed: what the step would cost if nothing but
its products took time, at ATen's speed for these shapes.

Generation: an LSTM at batch 1 fed one token at a time, rnnkit's layer (whose single-step call
is one fused C++ step) against ``torch.nn.LSTM`` called once per token, per-token medians.

Compiled (``compiled=True``, ``rnnkit bench --compile``): a third run in each case's repeats,
rnnkit's same layer under ``torch.compile`` (inductor, default options), compiled before the
timed runs (one module compiled once per case, as a user compiles a model; Dynamo's caches are
cleared between cases so that no case inherits another's dynamic shapes or recompiles).
``compiled_speedup`` is the median of rnnkit eager's time over compiled's in the same
repeat: above 1, compiled is faster; ``compiled_low``/``compiled_high`` its 95% bootstrap
interval (``paired_interval``), and a row whose whole interval is below 1 is named slower.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import platform
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

import rnnkit
from rnnkit.kernels import get_kernel, products
from rnnkit.plots.figure import save_figure

CELLS = {  # name: (rnnkit layer, torch.nn layer, gates)
    "rnn": (rnnkit.RNN, nn.RNN, 1),
    "lstm": (rnnkit.LSTM, nn.LSTM, 4),
    "gru": (rnnkit.GRU, nn.GRU, 3),
}
CONFIGS = ((100, 32, 128, 256), (100, 64, 512, 512), (500, 16, 64, 128))
GENERATION = (256, 512, 200)  # input size, hidden size, tokens


@dataclass
class Result:
    """One measured case; times in milliseconds (per token for generation)."""

    cell: str
    mode: str  # train | infer | generate
    T: int
    B: int
    I: int
    H: int
    rnnkit_ms: float
    torch_ms: float
    speedup: float  # median over repeats of torch.nn's time / rnnkit's, run side by side
    tokens_per_s: float
    gflops: float
    torch_gflops: float
    peak_pct: float = 0.0  # of the matmul peak; set once the peak is known
    torch_peak_pct: float = 0.0
    bound_ms: float = 0.0  # the products alone, each timed on its own (products_bound)
    precision: str = "fp32"
    note: str = ""  # e.g. which torch.nn path ran
    products: str = ""  # bf16: which path ran rnnkit's products (lowp | rounded)
    compiled_ms: float = 0.0  # rnnkit under torch.compile (0: not timed)
    compiled_speedup: float = 0.0  # median over repeats of eager's time / compiled's
    compiled_low: float = 0.0  # its 95% bootstrap interval (paired_interval)
    compiled_high: float = 0.0
    kernel: str = ""  # the kernel rnnkit's layers ran: cpu, or reference where it cannot build

    @property
    def ceiling(self) -> float:
        """The speed-up rnnkit would get running every product at the matmul peak with nothing
        else costing time: what any float32 implementation could reach against this torch.nn."""
        return 100.0 / self.torch_peak_pct if self.torch_peak_pct else float("nan")


PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}
NATIVE_NOTE = "torch.nn native (no oneDNN bf16)"


def cpu_name() -> str:
    """The CPU's model name, as /proc/cpuinfo gives it (what every speed figure names)."""
    info = Path("/proc/cpuinfo")
    lines = info.read_text().splitlines() if info.exists() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor() or platform.machine()


def matmul_peak(size: int = 2048, repeats: int = 10, dtype: torch.dtype = torch.float32) -> float:
    """Best GFLOP/s of a size x size x size torch.mm in ``dtype`` on this machine, now.

    The best run, not the median: a peak is what the machine can do, and on a shared machine
    the median would flatter every other figure.
    """
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    if dtype != torch.float32:  # ATen's 16-bit GEMM without AMX is fastest on a transposed b
        b = b.t()
    out = torch.empty(size, size, dtype=dtype)
    torch.mm(a, b, out=out)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        times.append(time.perf_counter() - start)
    return 2 * size**3 / min(times) / 1e9


def _product_ms(m: int, k: int, n: int, dtype: torch.dtype, count: int, repeats: int = 3) -> float:
    """Milliseconds of ``count`` products (m,k) x (k,n) (a weight as (n,k), used transposed,
    as layers hold them), run back to back; the best of ``repeats``."""
    a, w = torch.randn(m, k, dtype=dtype), torch.randn(n, k, dtype=dtype)
    out = torch.empty(m, n, dtype=dtype)
    torch.mm(a, w.t(), out=out)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(count):
            torch.mm(a, w.t(), out=out)
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def products_bound(cell: str, config: tuple[int, int, int, int], mode: str, dtype) -> float:
    """Milliseconds of the case's matrix products alone (see the module docstring)."""
    T, B, I, H = config
    G = CELLS[cell][2] * H
    ms = _product_ms(T * B, I, G, dtype, 1) + _product_ms(B, H, G, dtype, T)  # x U^T, h W^T
    if mode == "train":
        ms += _product_ms(B, G, H, dtype, T)  # dh_{t-1} = dG_t W, each step
        ms += _product_ms(T * B, G, I, dtype, 1)  # dX = dG U
        ms += _product_ms(G, T * B, I + H, dtype, 1)  # [dW_ih dW_hh] = dG^T [X H_prev]
    return ms


def alternate(fns: list[Callable[[], None]], repeats: int, warmup: int = 2) -> list[list[float]]:
    """Seconds of each function in each repeat, their runs interleaved, repeat r in the r-th
    order of all the functions' orders (cycling). A run pays for the state the run before it
    leaves (the caches, the allocator, OpenMP threads still spinning): in a fixed order, or a
    rotated one, the same function always follows the same other, and rnnkit compiled, always
    right after torch.nn's Elman layer, measured 2-4% slower than eager, which was level with
    it where the two alternated alone. Through every order each function follows each other
    equally often (in 6 repeats for 3 functions)."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    orders = list(itertools.permutations(range(len(fns))))
    times: list[list[float]] = [[] for _ in fns]
    for r in range(repeats):
        for k in orders[r % len(orders)]:
            start = time.perf_counter()
            fns[k]()
            times[k].append(time.perf_counter() - start)
    return times


def paired_speedup(ours: list[float], theirs: list[float]) -> float:
    """Median of theirs[i] / ours[i]: each ratio compares two runs made back to back."""
    return statistics.median(t / o for o, t in zip(ours, theirs, strict=True))


def paired_interval(
    ours: list[float], theirs: list[float], level: float = 0.95, resamples: int = 2000
) -> tuple[float, float]:
    """A ``level`` bootstrap interval of ``paired_speedup``: the repeats' ratios resampled
    with replacement (a fixed seed, so a report is reproducible from its times). An interval
    holding 1 means the two runs' difference is within what the repeats can tell apart."""
    ratios = [t / o for o, t in zip(ours, theirs, strict=True)]
    draw = random.Random(0)
    medians = sorted(
        statistics.median(draw.choices(ratios, k=len(ratios))) for _ in range(resamples)
    )
    tail = round((1 - level) / 2 * resamples)
    return medians[tail], medians[resamples - 1 - tail]


@dataclass
class Timing:
    """Medians in seconds and paired speed-ups of one case's runs."""

    ours: float
    torch: float
    speedup: float  # torch.nn / rnnkit eager
    compiled: float = 0.0
    compiled_speedup: float = 0.0  # rnnkit eager / rnnkit compiled
    compiled_interval: tuple[float, float] = (0.0, 0.0)  # its 95% bootstrap interval

    def fields(self, per: int = 1) -> dict:
        """Result's compiled fields, times divided by ``per`` (tokens)."""
        low, high = self.compiled_interval
        return {"compiled_ms": self.compiled / per * 1e3, "compiled_speedup": self.compiled_speedup,
                "compiled_low": low, "compiled_high": high}  # fmt: skip


def _timed(fns: list[Callable[[], None]], repeats: int, warmup: int = 2) -> Timing:
    """The runs [rnnkit, torch.nn] or [rnnkit, torch.nn, rnnkit compiled], interleaved."""
    times = alternate(fns, repeats, warmup)
    ours, theirs = times[0], times[1]
    timing = Timing(
        statistics.median(ours), statistics.median(theirs), paired_speedup(ours, theirs)
    )
    if len(times) == 3:
        timing.compiled = statistics.median(times[2])
        timing.compiled_speedup = paired_speedup(times[2], ours)
        timing.compiled_interval = paired_interval(times[2], ours)
    return timing


def compile_layer(model: nn.Module) -> nn.Module:
    """``torch.compile(model)`` with Dynamo's caches cleared first: each case compiles as a
    fresh process would (static shapes, no recompile budget spent by earlier cases)."""
    torch._dynamo.reset()
    return torch.compile(model)


def _pair(cell: str, I: int, H: int) -> tuple[nn.Module, nn.Module]:
    """An rnnkit layer and a torch.nn layer with identical weights."""
    ours_cls, torch_cls, _ = CELLS[cell]
    ref = torch_cls(I, H)
    ours = ours_cls(I, H)
    ours.load_state_dict(ref.state_dict())
    return ours, ref


def _autocast(precision: str, native_torch: bool = False):
    """The forward's context: autocast for bf16; ``native_torch`` also turns oneDNN off (for
    torch.nn's LSTM where oneDNN has no bfloat16 RNN on this CPU)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    stack = contextlib.ExitStack()
    stack.enter_context(torch.autocast("cpu", dtype=PRECISIONS[precision]))
    if native_torch:
        stack.enter_context(torch.backends.mkldnn.flags(enabled=False))
    return stack


def _training_step(
    model: nn.Module, x: torch.Tensor, grad: torch.Tensor, precision: str = "fp32", native=False
) -> Callable[[], None]:
    params = list(model.parameters())

    def step() -> None:
        for p in params:
            p.grad = None
        x.grad = None
        with _autocast(precision, native):
            y, _ = model(x)
        y.float().backward(grad)

    return step


def _inference(
    model: nn.Module, x: torch.Tensor, precision: str = "fp32", native=False
) -> Callable[[], None]:
    def run() -> None:
        with torch.no_grad(), _autocast(precision, native):
            model(x)

    return run


def _torch_needs_native(run: Callable[[], None]) -> bool:
    """Whether torch.nn's run raises for want of a bfloat16 oneDNN RNN on this CPU."""
    try:
        run()
    except RuntimeError as exc:
        if "could not create a primitive descriptor" in str(exc):
            return True
        raise
    return False


def bench_sequence(
    cell: str,
    config: tuple[int, int, int, int],
    repeats: int,
    precision: str = "fp32",
    compiled: bool = False,
) -> list[Result]:
    """Training and inference medians for one cell at one (T, B, I, H), in ``precision``;
    with ``compiled``, rnnkit's layer under torch.compile too."""
    T, B, I, H = config
    gates = CELLS[cell][2]
    ours, ref = _pair(cell, I, H)
    fast = compile_layer(ours) if compiled else None
    x = torch.randn(T, B, I)  # (T, B, I)
    x_train = x.clone().requires_grad_()  # training does dX too, as a stacked layer must
    grad = torch.randn(T, B, H)  # (T, B, H)
    flops = 2 * T * B * gates * H * (I + H)
    results = []
    for mode, factor, make in (
        ("train", 3, lambda m, nat: _training_step(m, x_train, grad, precision, nat)),
        ("infer", 1, lambda m, nat: _inference(m, x, precision, nat)),
    ):
        native = precision != "fp32" and _torch_needs_native(make(ref, False))
        fns = [make(ours, False), make(ref, native)] + (
            [make(fast, False)] if fast is not None else []
        )
        if fast is not None:
            fns[2]()  # compiles (seconds) before the warm-up and the timed runs
        t = _timed(fns, repeats)
        results.append(
            Result(cell, mode, T, B, I, H, t.ours * 1e3, t.torch * 1e3, t.speedup, T * B / t.ours,
                   factor * flops / t.ours / 1e9, factor * flops / t.torch / 1e9,
                   bound_ms=products_bound(cell, config, mode, PRECISIONS[precision]),
                   precision=precision, note=NATIVE_NOTE if native else "", **t.fields())
        )  # fmt: skip
    return results


def bench_generation(
    repeats: int, tokens: int | None = None, precision: str = "fp32", compiled: bool = False
) -> Result:
    """Per-token medians of an LSTM fed one token at a time at batch 1, no gradients."""
    I, H, default_tokens = GENERATION
    tokens = tokens or default_tokens
    ours, ref = _pair("lstm", I, H)
    fast = compile_layer(ours) if compiled else None
    xs = torch.randn(tokens, 1, 1, I)  # (tokens, T=1, B=1, I)

    def sampler(model: nn.Module, native: bool) -> Callable[[], None]:
        def run() -> None:
            with torch.no_grad(), _autocast(precision, native):
                state = (torch.zeros(1, 1, H), torch.zeros(1, 1, H))
                for x in xs:
                    _, state = model(x, state)

        return run

    native = precision != "fp32" and _torch_needs_native(sampler(ref, False))
    fns = [sampler(ours, False), sampler(ref, native)] + (
        [sampler(fast, False)] if fast is not None else []
    )
    if fast is not None:
        fns[2]()  # compiles before the timed runs
    t = _timed(fns, repeats, warmup=1)
    ours_s, torch_s, speedup = t.ours / tokens, t.torch / tokens, t.speedup
    flops = 2 * 4 * H * (I + H)
    dtype = PRECISIONS[precision]
    bound = _product_ms(1, I, 4 * H, dtype, 1) + _product_ms(1, H, 4 * H, dtype, 1)
    return Result("lstm", "generate", 1, 1, I, H, ours_s * 1e3, torch_s * 1e3, speedup,
                  1 / ours_s, flops / ours_s / 1e9, flops / torch_s / 1e9, bound_ms=bound,
                  precision=precision, note=NATIVE_NOTE if native else "",
                  **t.fields(tokens))  # fmt: skip


def run_bench(
    cells: tuple[str, ...] = ("rnn", "lstm", "gru"),
    configs: tuple[tuple[int, int, int, int], ...] = CONFIGS,
    repeats: int = 7,
    generation: bool = True,
    generation_tokens: int | None = None,
    threads: int | None = None,
    precision: str = "fp32",
    products_path: str | None = None,
    compiled: bool = False,
) -> tuple[float, list[Result]]:
    """Every case, with the matmul peak (in the precision's dtype) measured before and after;
    (peak GFLOP/s, results). ``products_path`` (lowp | rounded | auto) forces how rnnkit's
    bfloat16 products run (``rnnkit.kernels.products``); None keeps the current setting.
    ``compiled``: rnnkit's layers under torch.compile too, in the same repeats."""
    if threads:
        torch.set_num_threads(threads)
    if products_path is not None:
        products.set_path(products_path)
    dtype = PRECISIONS[precision]
    size = 2048 if dtype == torch.float32 else 1024  # 16-bit GEMMs can be slow without AMX

    def peak_now() -> float:
        return matmul_peak(size, 10 if dtype == torch.float32 else 3, dtype)

    peak = peak_now()
    results = []
    for config in configs:
        for cell in cells:
            results += bench_sequence(cell, config, repeats, precision, compiled)
    if generation:
        results.append(
            bench_generation(max(3, repeats // 2), generation_tokens, precision, compiled)
        )
    peak = max(peak, peak_now())
    ran = products.path(dtype) if dtype != torch.float32 else ""
    kernel = get_kernel(None, "cpu").name  # a failed build falls back to reference: say so
    for r in results:
        r.peak_pct, r.torch_peak_pct = 100 * r.gflops / peak, 100 * r.torch_gflops / peak
        r.products, r.kernel = ran, kernel
    return peak, results


def format_table(peak: float, results: list[Result]) -> str:
    """The human-readable report."""
    precision = results[0].precision if results else "fp32"
    compiled = any(r.compiled_ms for r in results)
    head = (
        f"{'cell':5} {'mode':8} {'T,B,I,H':>16} {'rnnkit ms':>10} {'torch ms':>10} "
        f"{'bound ms':>9} {'tokens/s':>10} {'GFLOP/s':>8} {'%peak':>6} {'torch%':>6} "
        f"{'speed-up':>8} {'ceiling':>7}"
    ) + (f" {'compiled ms':>11} {'vs eager':>8} {'95% interval':>13}" if compiled else "")
    size = 2048 if precision == "fp32" else 1024
    name = "float32" if precision == "fp32" else "bfloat16"
    lines = [
        f"precision {precision}"
        + ("" if precision == "fp32" else " (both libraries under torch.autocast)")
        + f"; {name} matmul peak: {peak:.1f} GFLOP/s (torch.mm {size}^3, best run), "
        f"threads: {torch.get_num_threads()}"
        + (f"; rnnkit kernel: {results[0].kernel}" if results and results[0].kernel else ""),
    ]
    if precision != "fp32":
        lines.append(f"rnnkit {products.describe(PRECISIONS[precision])}")
    lines += [head]
    for r in results:
        shape = f"{r.T},{r.B},{r.I},{r.H}"
        lines.append(
            f"{r.cell:5} {r.mode:8} {shape:>16} {r.rnnkit_ms:10.3f} {r.torch_ms:10.3f} "
            f"{r.bound_ms:9.3f} {r.tokens_per_s:10.0f} {r.gflops:8.1f} {r.peak_pct:6.1f} "
            f"{r.torch_peak_pct:6.1f} {r.speedup:7.2f}x {r.ceiling:6.2f}x"
            + (
                f" {r.compiled_ms:11.3f} {r.compiled_speedup:7.2f}x "
                f"[{r.compiled_low:5.3f},{r.compiled_high:5.3f}]"
                if compiled
                else ""
            )
            + (f"  [{r.note}]" if r.note else "")
        )
    lines.append(
        "times are medians; generation times are per token (LSTM, batch 1); speed-up is the "
        "median of back-to-back ratios; ceiling = 100 / torch%, the speed-up at 100% of peak; "
        f"bound = the case's matrix products alone, each timed on its own in {name}"
        + (
            "; compiled = rnnkit's layer under torch.compile (inductor), vs eager = the "
            "median of back-to-back ratios rnnkit eager / compiled (above 1: compiled faster), "
            "with its 95% bootstrap interval"
            if compiled
            else ""
        )
    )
    if compiled:
        lines.append(compiled_verdict(results))
    return "\n".join(lines)


def slower_compiled(results: list[Result]) -> list[Result]:
    """The rows where compiled is slower than eager beyond the repeats' noise: the whole 95%
    interval of eager / compiled below 1."""
    return [r for r in results if r.compiled_ms and r.compiled_high < 1.0]


def compiled_verdict(results: list[Result]) -> str:
    """One line: which rows ran slower compiled than eager, by their intervals."""
    rows = ", ".join(f"{r.cell} {r.mode} {r.T},{r.B},{r.I},{r.H}" for r in slower_compiled(results))
    return f"slower compiled (95% interval of eager / compiled wholly below 1): {rows or 'none'}"


def to_json(peak: float, results: list[Result]) -> dict:
    precision = results[0].precision if results else "fp32"
    return {
        "peak_gflops": peak,
        "products": products.describe(PRECISIONS[precision]) if precision != "fp32" else "",
        "threads": torch.get_num_threads(),
        "results": [asdict(r) | {"ceiling": r.ceiling} for r in results],
    }


def plot(results: list[Result], path: str) -> None:
    """A bar chart of the speed-ups over torch.nn, one bar per case."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r.cell} {r.mode}\n{r.T},{r.B},{r.I},{r.H}" for r in results]
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(results)), 4))
    ax.bar(range(len(results)), [r.speedup for r in results], color="tab:blue")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(results)), labels, rotation=90, fontsize=7)
    ax.set_ylabel("speed-up over torch.nn (median)")
    ax.set_title("rnnkit vs torch.nn, same process")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
