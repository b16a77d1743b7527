"""rnnkit's two bfloat16 product paths on this CPU, layer for layer, in one process.

The dispatch (``rnnkit.kernels.products``) picks ``lowp`` (bfloat16 GEMMs on ATen/oneDNN) or
``rounded`` (float32 GEMMs on bfloat16-rounded values) by what the CPU has; this measures the
two on the same layers and inputs, their runs alternating, medians and the median of
back-to-back ratios, to settle the rule for a capability (AVX-512 BF16 without AMX, say). It
also prints the CPU's flags, the thread count and the load average before and after, since a
shared machine's load moves every figure.

    .venv/bin/python bench/lowp_paths.py --threads 1 --repeats 5
    .venv/bin/python bench/lowp_paths.py --configs 70,40,160,352 --cells lstm,gru
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

import rnnkit
from rnnkit.kernels import products

CELLS = {"rnn": rnnkit.RNN, "lstm": rnnkit.LSTM, "gru": rnnkit.GRU}
CONFIGS = ((70, 40, 160, 352), (100, 32, 128, 256), (500, 16, 64, 128))


def _train(model, x, grad):
    def run() -> None:
        model.zero_grad(set_to_none=True)
        x.grad = None
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y, _ = model(x)
        y.float().backward(grad)

    return run


def _infer(model, x):
    def run() -> None:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            model(x)

    return run


def _timed(run, path: str) -> float:
    products.set_path(path)
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", default="lstm,gru")
    p.add_argument("--configs", nargs="*", help="T,B,I,H each (default: three)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    configs = (
        [tuple(int(v) for v in c.split(",")) for c in args.configs] if args.configs else CONFIGS
    )
    print(f"capability {sorted(products.capability())}; threads {torch.get_num_threads()}; "
          f"load {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"{'cell':5} {'mode':6} {'T,B,I,H':>16} {'rounded ms':>11} {'lowp ms':>9} speed-up")
    for config in configs:
        T, B, I, H = config
        for cell in args.cells.split(","):
            torch.manual_seed(0)
            model = CELLS[cell](I, H)
            x = torch.randn(T, B, I, requires_grad=True)  # (T, B, I)
            grad = torch.randn(T, B, H)  # (T, B, H)
            for mode, run in (("train", _train(model, x, grad)), ("infer", _infer(model, x))):
                for path in products.PATHS:  # warm-up, both paths
                    _timed(run, path)
                times = {path: [] for path in products.PATHS}
                for _ in range(args.repeats):
                    for path in products.PATHS:
                        times[path].append(_timed(run, path))
                ratio = statistics.median(
                    r / lo for r, lo in zip(times["rounded"], times["lowp"], strict=True)
                )
                shape = ",".join(map(str, config))
                rounded, lowp = (statistics.median(times[k]) * 1e3 for k in ("rounded", "lowp"))
                print(f"{cell:5} {mode:6} {shape:>16} {rounded:11.2f} {lowp:9.2f} {ratio:7.2f}x")
    products.set_path(None)
    print(f"load after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
