"""One training step of an rnnkit layer against the torch.nn layer, interleaved in one process.

Forward and backward through the layer (input requiring grad, as in ``rnnkit bench``), the
steps alternating after warm-up; prints the minimum and median of each: rnnkit eager,
rnnkit under ``torch.compile`` (inductor; compiled before timing, ``--no-compile`` skips it)
and torch.nn eager. Run it under different allocator settings to see how much of a gap is
page faults:

    .venv/bin/python bench/train_step.py --cell LSTM --config 100,32,128,256
    MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=17179869184 \\
        .venv/bin/python bench/train_step.py --cell LSTM --config 100,32,128,256
"""

from __future__ import annotations

import argparse
import statistics

import torch

from rnnkit.bench import _pair, _training_step, alternate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cell", default="LSTM", choices=["RNN", "LSTM", "GRU"])
    p.add_argument("--config", default="100,32,128,256", help="T,B,I,H")
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--no-compile", action="store_true", help="skip rnnkit under torch.compile")
    args = p.parse_args()
    T, B, I, H = (int(v) for v in args.config.split(","))
    ours, ref = _pair(args.cell.lower(), I, H)
    x = torch.randn(T, B, I, requires_grad=True)  # (T, B, I)
    grad = torch.randn(T, B, H)  # (T, B, H)
    models = {"rnnkit": ours, "compiled": torch.compile(ours), "torch.nn": ref}
    if args.no_compile:
        del models["compiled"]
    steps = [_training_step(m, x, grad) for m in models.values()]
    for step in steps:
        step()  # compiles before any timing
    times = alternate(steps, args.repeats)
    for name, ts in zip(models, times, strict=True):
        low, mid = min(ts) * 1e3, statistics.median(ts) * 1e3
        print(f"{name:9s} min {low:8.2f} ms   median {mid:8.2f} ms")


if __name__ == "__main__":
    main()
