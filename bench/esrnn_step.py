"""One ES-RNN training step (forward, pinball loss, backward, Adam) on a panel the size of the
hourly one (1 series of 960 values, season 24, window 24, horizon 48, 9 members), with the
Holt-Winters smoothing's hand-written backward (``rnnkit/models/holt_winters.py``, the
default) and with autograd through the plain loop of torch operations (what it replaced), the
two alternated in one process, same weights and data. Prints each one's median, the paired
speed-up with its 95% bootstrap interval, the machine's float32 matrix-multiply peak and the
CPU.

    python bench/esrnn_step.py [--series N] [--length T] [--repeats R]
"""

from __future__ import annotations

import argparse
import copy
from unittest import mock

import numpy as np
import torch

from rnnkit.bench import alternate, cpu_name, matmul_peak, paired_interval, paired_speedup
from rnnkit.models import holt_winters
from rnnkit.models.esrnn import ESRNN
from rnnkit.models.forecaster import ForecasterConfig
from rnnkit.tasks import forecast_panel as panel
from rnnkit.train.precision import cpu_bf16_flags


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--series", type=int, default=1)
    ap.add_argument("--length", type=int, default=960)
    ap.add_argument("--repeats", type=int, default=12)
    args = ap.parse_args()
    torch.manual_seed(0)
    n, m, h, w = args.series, 24, 48, 24
    config = ForecasterConfig(kind="esrnn", series=n, offsets=[0.0] * n, period=m, horizon=h,
                              window=w, quantiles=[0.025, 0.5, 0.975], members=9)  # fmt: skip
    rng = np.random.default_rng(0)
    t = np.arange(args.length + 3 * h)
    values = [100 + 10 * np.sin(2 * np.pi * t / m) + rng.random(len(t)) for _ in range(n)]
    batch = panel.cut(config, values, 3 * h)
    models = {"hand-written": ESRNN(config)}
    models["autograd"] = copy.deepcopy(models["hand-written"])
    optimisers = {k: torch.optim.Adam(v.parameters(), 1e-3) for k, v in models.items()}

    def step(name: str) -> None:
        model, opt = models[name], optimisers[name]
        loss, _ = panel.loss(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def autograd_step() -> None:
        with mock.patch.object(holt_winters, "HoltWinters", _LoopFunction):
            step("autograd")

    peak = matmul_peak()
    ours, theirs = alternate([lambda: step("hand-written"), autograd_step], args.repeats)
    low, high = paired_interval(ours, theirs)
    med = lambda xs: sorted(xs)[len(xs) // 2] * 1e3  # noqa: E731
    bf16 = ", ".join(cpu_bf16_flags()) or "none"
    print(f"ES-RNN training step, {n} series x {args.length} values, 9 members; CPU {cpu_name()}, "
          f"bfloat16 units: {bf16}; {torch.get_num_threads()} threads; float32 matmul peak "
          f"{peak:.0f} GFLOP/s")  # fmt: skip
    print(f"  hand-written smoothing backward  {med(ours):7.1f} ms")
    print(f"  autograd through the loop        {med(theirs):7.1f} ms")
    print(f"  speed-up {paired_speedup(ours, theirs):.2f}x (95% interval {low:.2f}-{high:.2f})")


class _LoopFunction:
    """Stands in for ``HoltWinters`` so that ``holt_winters.smooth`` runs the plain loop."""

    @staticmethod
    def apply(*args):
        return holt_winters.smooth_loop(*args)


if __name__ == "__main__":
    main()
