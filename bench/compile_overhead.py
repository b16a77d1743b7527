"""Where a compiled layer call spends the time an eager one does not (issue 34).

Two cases of ``rnnkit bench --compile`` where compiled is slower than eager, taken apart in
one process, every variant interleaved with the others after warm-up (``rnnkit.bench``):

- ``elman``: Elman inference at (T, B, I, H) = (500, 16, 64, 128), eager against compiled
  (1) in the bench's order with torch.nn between them, (2) in the reverse order, (3) as a
  pair without torch.nn, and (4) with the initial state passed in, so that the compiled graph
  has no ``zeros`` kernel of its own (inductor's one OpenMP region) before the operator;
  then taken apart: the layer eager and compiled, the operator, its implementation called as
  a function, and torch.compile's cost on one ATen op (the input product alone, eager and
  compiled);
- ``generate``: one-token LSTM steps (256 -> 512, batch 1, per-call microseconds): the eager
  layer, the compiled layer, the step's implementation called as a function (what eager runs
  under the layer's Python), the same through the operator (the dispatcher's trip into
  Python that a compiled graph takes), and Dynamo's floor: ``a + 1`` on 4 numbers, eager and
  compiled.

    .venv/bin/python bench/compile_overhead.py [--repeats 40] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

import torch

from rnnkit.bench import _pair, alternate, compile_layer, paired_speedup
from rnnkit.cells.elman import elman_forward, elman_op
from rnnkit.cells.lstm import lstm_step, lstm_step_op

ELMAN = (500, 16, 64, 128)  # T, B, I, H
GENERATION = (256, 512)  # I, H
CALLS = 300  # one-token calls per timed generation run


def no_grad(fn: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        with torch.no_grad():
            fn()

    return run


def elman(repeats: int) -> None:
    T, B, I, H = ELMAN
    ours, ref = _pair("rnn", I, H)
    fast = compile_layer(ours)
    x = torch.randn(T, B, I)  # (T, B, I)
    h0 = torch.zeros(1, B, H)  # (1, B, H)
    runs = {
        "eager": no_grad(lambda: ours(x)),
        "torch.nn": no_grad(lambda: ref(x)),
        "compiled": no_grad(lambda: fast(x)),
        "eager, h0 given": no_grad(lambda: ours(x, h0)),
        "compiled, h0 given": no_grad(lambda: fast(x, h0)),
    }
    for run in runs.values():  # compiles the two graphs before any timing
        run()
    print(f"Elman inference {T},{B},{I},{H}: medians (ms), eager / compiled per repeat (median)")
    for label, order in (
        ("eager, torch.nn, compiled (the bench's order)", ("eager", "torch.nn", "compiled")),
        ("compiled, torch.nn, eager", ("compiled", "torch.nn", "eager")),
        ("eager, compiled (no torch.nn)", ("eager", "compiled")),
        ("h0 given: eager, compiled", ("eager, h0 given", "compiled, h0 given")),
    ):
        times = dict(zip(order, alternate([runs[k] for k in order], repeats), strict=True))
        e = next(t for k, t in times.items() if k.startswith("eager"))
        c = next(t for k, t in times.items() if k.startswith("compiled"))
        e_ms, c_ms = statistics.median(e) * 1e3, statistics.median(c) * 1e3
        ratio = paired_speedup(c, e)
        print(f"  {label:48s} eager {e_ms:6.3f}  compiled {c_ms:6.3f}  eager/compiled {ratio:.3f}")


def elman_parts(repeats: int) -> None:
    """The Elman inference call taken apart: milliseconds of the layer, eager and compiled,
    and of what both run underneath (the operator, and its implementation as a function)."""
    T, B, I, H = ELMAN
    ours, _ = _pair("rnn", I, H)
    fast = compile_layer(ours)
    x = torch.randn(T, B, I)  # (T, B, I)
    h0 = torch.zeros(B, H)  # (B, H)
    weights = (ours.weight_ih_l0, ours.weight_hh_l0, ours.bias_ih_l0, ours.bias_hh_l0)
    args = (x, *weights, h0, None, False, False, False, None)
    x2, w_t = x.view(T * B, I), ours.weight_ih_l0.detach().t()  # (T*B, I), (I, H)
    compiled_mm = torch.compile(torch.mm)
    calls = {
        "eager layer": no_grad(lambda: ours(x)),
        "compiled layer": no_grad(lambda: fast(x)),
        "the operator": no_grad(lambda: elman_op(*args)),
        "the implementation as a function": no_grad(lambda: elman_forward(*args)),
        # torch.compile's own cost on one ATen op: the input product alone, (T*B, I) x (I, H)
        "torch.mm of the input product, eager": lambda: torch.mm(x2, w_t),
        "torch.mm of the input product, compiled": lambda: compiled_mm(x2, w_t),
    }
    for run in calls.values():
        run()
    times = alternate(list(calls.values()), repeats)
    print(f"Elman inference {T},{B},{I},{H} taken apart: medians (ms)")
    for name, t in zip(calls, times, strict=True):
        print(f"  {name:48s} {statistics.median(t) * 1e3:7.3f}")
    by_name = dict(zip(calls, times, strict=True))
    for what in ("layer", "torch.mm of the input product"):
        e, c = by_name[f"eager {what}" if what == "layer" else f"{what}, eager"], by_name[
            f"compiled {what}" if what == "layer" else f"{what}, compiled"]  # fmt: skip
        print(f"  eager/compiled, {what}: {paired_speedup(c, e):.3f} (median of the repeats)")


def generation(repeats: int) -> None:
    I, H = GENERATION
    ours, _ = _pair("lstm", I, H)
    fast = compile_layer(ours)
    x = torch.randn(1, 1, I)  # (T=1, B=1, I)
    state = (torch.zeros(1, 1, H), torch.zeros(1, 1, H))  # (1, B, H) each
    weights = (ours.weight_ih_l0, ours.weight_hh_l0, ours.bias_ih_l0, ours.bias_hh_l0, None)
    step_args = (x[0], *weights, state[0][0], state[1][0], None)
    tiny = torch.randn(4)
    add_one = torch.compile(lambda a: a + 1)
    calls = {
        "eager layer": lambda: ours(x, state),
        "compiled layer": lambda: fast(x, state),
        "the step as a function": lambda: lstm_step(*step_args),
        "the step through the operator": lambda: lstm_step_op(*step_args),
        "a + 1, eager": lambda: tiny + 1,
        "a + 1, compiled": lambda: add_one(tiny),
    }

    def many(fn: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            for _ in range(CALLS):
                fn()

        return no_grad(run)

    times = alternate([many(fn) for fn in calls.values()], repeats)
    print(f"one-token LSTM {I} -> {H}, batch 1: microseconds a call (median of {repeats} x "
          f"{CALLS} calls)")  # fmt: skip
    for name, t in zip(calls, times, strict=True):
        print(f"  {name:32s} {statistics.median(t) / CALLS * 1e6:7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads")
    elman(args.repeats)
    elman_parts(args.repeats)
    generation(max(3, args.repeats // 3))


if __name__ == "__main__":
    main()
