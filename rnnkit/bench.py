"""Benchmark rnnkit's layers against torch.nn's in the same process.

For each cell (rnn, lstm, gru) and sequence configuration (T, B, I, H), both libraries get the
same weights and inputs; their runs alternate (rnnkit, torch.nn, rnnkit, ...) after warm-up,
so that load from other processes hits both alike, and the medians are reported.

FLOPs count only the matrix products, 2 M N K each, with G gates (1 Elman, 3 GRU, 4 LSTM)::

    inference = 2 T B G H (I + H)                  (input projection + recurrent product)
    training  = 3 x inference                      (+ dX and dW_ih, + dh_{t-1} and dW_hh)

The training input requires grad, so both libraries do all of that work (dX included, as for
any layer above an embedding or another layer).

The speed-up is the median over the timed repeats of torch.nn's time over rnnkit's in the same
repeat (the two runs are adjacent), not the ratio of the medians: on a shared machine whose
speed drifts by tens of percent within a minute, adjacent pairs see the same conditions.

The machine's matrix-multiply peak is measured in the same run, before and after the cases,
as the best GFLOP/s of a 2048^3 float32 ``torch.mm``; each figure is a percentage of it.

Generation: an LSTM at batch 1 fed one token at a time, rnnkit's layer (whose single-step call
is one fused C++ step) against ``torch.nn.LSTM`` called once per token, per-token medians.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn

import rnnkit
from rnnkit.files import save_figure

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

    @property
    def ceiling(self) -> float:
        """The speed-up rnnkit would get running every product at the matmul peak with nothing
        else costing time: what any float32 implementation could reach against this torch.nn."""
        return 100.0 / self.torch_peak_pct if self.torch_peak_pct else float("nan")


def matmul_peak(size: int = 2048, repeats: int = 10) -> float:
    """Best float32 GFLOP/s of a size x size x size torch.mm on this machine, now.

    The best run, not the median: a peak is what the machine can do, and on a shared machine
    the median would flatter every other figure.
    """
    a, b = torch.randn(size, size), torch.randn(size, size)
    out = torch.empty(size, size)
    torch.mm(a, b, out=out)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        times.append(time.perf_counter() - start)
    return 2 * size**3 / min(times) / 1e9


def alternate(fns: list[Callable[[], None]], repeats: int, warmup: int = 2) -> list[list[float]]:
    """Seconds of each function in each repeat, their runs interleaved."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - start)
    return times


def paired_speedup(ours: list[float], theirs: list[float]) -> float:
    """Median of theirs[i] / ours[i]: each ratio compares two runs made back to back."""
    return statistics.median(t / o for o, t in zip(ours, theirs, strict=True))


def _timed(fns: list[Callable[[], None]], repeats: int, warmup: int = 2):
    """(rnnkit median s, torch.nn median s, paired speed-up) of the pair [rnnkit, torch.nn]."""
    ours, theirs = alternate(fns, repeats, warmup)
    return statistics.median(ours), statistics.median(theirs), paired_speedup(ours, theirs)


def _pair(cell: str, I: int, H: int) -> tuple[nn.Module, nn.Module]:
    """An rnnkit layer and a torch.nn layer with identical weights."""
    ours_cls, torch_cls, _ = CELLS[cell]
    ref = torch_cls(I, H)
    ours = ours_cls(I, H)
    ours.load_state_dict(ref.state_dict())
    return ours, ref


def _training_step(model: nn.Module, x: torch.Tensor, grad: torch.Tensor) -> Callable[[], None]:
    params = list(model.parameters())

    def step() -> None:
        for p in params:
            p.grad = None
        x.grad = None
        y, _ = model(x)
        y.backward(grad)

    return step


def _inference(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def run() -> None:
        with torch.no_grad():
            model(x)

    return run


def bench_sequence(cell: str, config: tuple[int, int, int, int], repeats: int) -> list[Result]:
    """Training and inference medians for one cell at one (T, B, I, H)."""
    T, B, I, H = config
    gates = CELLS[cell][2]
    ours, ref = _pair(cell, I, H)
    x = torch.randn(T, B, I)  # (T, B, I)
    x_train = x.clone().requires_grad_()  # training does dX too, as a stacked layer must
    grad = torch.randn(T, B, H)  # (T, B, H)
    flops = 2 * T * B * gates * H * (I + H)
    results = []
    for mode, factor, make in (
        ("train", 3, lambda m: _training_step(m, x_train, grad)),
        ("infer", 1, lambda m: _inference(m, x)),
    ):
        ours_s, torch_s, speedup = _timed([make(ours), make(ref)], repeats)
        results.append(
            Result(cell, mode, T, B, I, H, ours_s * 1e3, torch_s * 1e3, speedup, T * B / ours_s,
                   factor * flops / ours_s / 1e9, factor * flops / torch_s / 1e9)
        )  # fmt: skip
    return results


def bench_generation(repeats: int, tokens: int | None = None) -> Result:
    """Per-token medians of an LSTM fed one token at a time at batch 1, no gradients."""
    I, H, default_tokens = GENERATION
    tokens = tokens or default_tokens
    ours, ref = _pair("lstm", I, H)
    xs = torch.randn(tokens, 1, 1, I)  # (tokens, T=1, B=1, I)

    def sampler(model: nn.Module) -> Callable[[], None]:
        def run() -> None:
            with torch.no_grad():
                state = (torch.zeros(1, 1, H), torch.zeros(1, 1, H))
                for x in xs:
                    _, state = model(x, state)

        return run

    ours_s, torch_s, speedup = _timed([sampler(ours), sampler(ref)], repeats, warmup=1)
    ours_s, torch_s = ours_s / tokens, torch_s / tokens
    flops = 2 * 4 * H * (I + H)
    return Result("lstm", "generate", 1, 1, I, H, ours_s * 1e3, torch_s * 1e3, speedup,
                  1 / ours_s, flops / ours_s / 1e9, flops / torch_s / 1e9)  # fmt: skip


def run_bench(
    cells: tuple[str, ...] = ("rnn", "lstm", "gru"),
    configs: tuple[tuple[int, int, int, int], ...] = CONFIGS,
    repeats: int = 7,
    generation: bool = True,
    generation_tokens: int | None = None,
    threads: int | None = None,
) -> tuple[float, list[Result]]:
    """Every case, with the matmul peak measured before and after; (peak GFLOP/s, results)."""
    if threads:
        torch.set_num_threads(threads)
    peak = matmul_peak()
    results = []
    for config in configs:
        for cell in cells:
            results += bench_sequence(cell, config, repeats)
    if generation:
        results.append(bench_generation(max(3, repeats // 2), generation_tokens))
    peak = max(peak, matmul_peak())
    for r in results:
        r.peak_pct, r.torch_peak_pct = 100 * r.gflops / peak, 100 * r.torch_gflops / peak
    return peak, results


def format_table(peak: float, results: list[Result]) -> str:
    """The human-readable report."""
    head = (
        f"{'cell':5} {'mode':8} {'T,B,I,H':>16} {'rnnkit ms':>10} {'torch ms':>10} "
        f"{'tokens/s':>10} {'GFLOP/s':>8} {'%peak':>6} {'torch%':>6} {'speed-up':>8} "
        f"{'ceiling':>7}"
    )
    lines = [
        f"float32 matmul peak: {peak:.1f} GFLOP/s (torch.mm 2048^3, best run), "
        f"threads: {torch.get_num_threads()}",
        head,
    ]
    for r in results:
        shape = f"{r.T},{r.B},{r.I},{r.H}"
        lines.append(
            f"{r.cell:5} {r.mode:8} {shape:>16} {r.rnnkit_ms:10.3f} {r.torch_ms:10.3f} "
            f"{r.tokens_per_s:10.0f} {r.gflops:8.1f} {r.peak_pct:6.1f} {r.torch_peak_pct:6.1f} "
            f"{r.speedup:7.2f}x {r.ceiling:6.2f}x"
        )
    lines.append(
        "times are medians; generation times are per token (LSTM, batch 1); speed-up is the "
        "median of back-to-back ratios; ceiling = 100 / torch%, the speed-up at 100% of peak"
    )
    return "\n".join(lines)


def to_json(peak: float, results: list[Result]) -> dict:
    return {
        "peak_gflops": peak,
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
