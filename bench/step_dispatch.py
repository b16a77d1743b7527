"""One-token steps through rnnkit's operators against their implementations called directly.

Eager inference calls the ops' implementations as plain functions (``run_directly`` in
``rnnkit/cells/_ops.py``); this times both ways in one process, alternating, batch 1, no
gradient: us per token (median over repeats of 100 tokens) and the paired ratio op / direct.
CPU time of the thread (``time.thread_time``), so that a loaded machine's waits do not count:

    .venv/bin/python bench/step_dispatch.py --repeats 30
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import rnnkit
import rnnkit.cells.elman
import rnnkit.cells.gru
import rnnkit.cells.lstm

MODULES = (rnnkit.cells.lstm, rnnkit.cells.gru, rnnkit.cells.elman)
REAL = rnnkit.cells.lstm.run_directly
CASES = (("LSTM", 256, 512), ("LSTM", 64, 128), ("GRU", 64, 128))


def set_direct(on: bool) -> None:
    for module in MODULES:
        module.run_directly = REAL if on else (lambda *tensors: False)


def sampler(layer: torch.nn.Module, I: int, H: int, lstm: bool):
    xs = torch.randn(100, 1, 1, I)  # (tokens, T=1, B=1, I)

    def run() -> None:
        with torch.no_grad():
            zeros = torch.zeros(1, 1, H)
            state = (zeros, zeros) if lstm else zeros
            for x in xs:
                _, state = layer(x, state)

    return run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    for name, I, H in CASES:
        run = sampler(getattr(rnnkit, name)(I, H), I, H, name == "LSTM")
        times: dict[bool, list[float]] = {True: [], False: []}
        for on in (True, False):
            set_direct(on)
            run()
        for _ in range(args.repeats):
            for on in (False, True):
                set_direct(on)
                start = time.thread_time()
                run()
                times[on].append((time.thread_time() - start) / 100 * 1e6)
        set_direct(True)
        ratio = statistics.median(o / d for d, o in zip(times[True], times[False], strict=True))
        op, direct = statistics.median(times[False]), statistics.median(times[True])
        print(f"{name} {I}->{H}: us/token op {op:.1f}  direct {direct:.1f}  op/direct {ratio:.3f}")


if __name__ == "__main__":
    main()
