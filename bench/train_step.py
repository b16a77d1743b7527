"""One training step of an rnnkit layer against the torch.nn layer, interleaved in one process.

Forward and backward through the layer (input requiring grad, as in ``rnnkit bench``), the
steps alternating after warm-up; prints the minimum and median of each: rnnkit eager,
rnnkit under ``torch.compile`` (inductor; compiled before timing, ``--no-compile`` skips it)
and torch.nn eager. Run it under different allocator settings to see how much of a gap is
page faults:

    .venv/bin/python bench/train_step.py --cell LSTM --config 100,32,128,256
    MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=17179869184 \\
        .venv/bin/python bench/train_step.py --cell LSTM --config 100,32,128,256

``--lm``: the language model's whole training step instead (embedding, the layers, the head,
cross-entropy, backward, SGD update; ``--config`` is then B,T,H,V with 2 layers and embedding
64), eager against the same model under ``torch.compile``, and the paired ratio eager /
compiled (above 1: compiled faster):

    .venv/bin/python bench/train_step.py --lm --config 32,64,256,1000 --threads 1
"""

from __future__ import annotations

import argparse
import statistics

import torch

from rnnkit.bench import _pair, _training_step, alternate, paired_interval, paired_speedup


def lm_steps(config: str) -> dict:
    """{name: step} for the language model, eager and compiled, sharing one model."""
    from rnnkit.models.language_model import LanguageModel, LanguageModelConfig

    B, T, H, V = (int(v) for v in config.split(","))
    torch.manual_seed(0)
    model = LanguageModel(LanguageModelConfig(vocab_size=V, hidden_size=H, num_layers=2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randint(0, V, (B, T)), torch.randint(0, V, (B, T))  # (B, T) ids

    def step(m: torch.nn.Module):
        def run() -> None:
            logits, _ = m(x)  # (B, T, V)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        return run

    return {"rnnkit": step(model), "compiled": step(torch.compile(model))}


def layer_steps(cell: str, config: str) -> dict:
    T, B, I, H = (int(v) for v in config.split(","))
    ours, ref = _pair(cell.lower(), I, H)
    x = torch.randn(T, B, I, requires_grad=True)  # (T, B, I)
    grad = torch.randn(T, B, H)  # (T, B, H)
    models = {"rnnkit": ours, "compiled": torch.compile(ours), "torch.nn": ref}
    return {name: _training_step(m, x, grad) for name, m in models.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cell", default="LSTM", choices=["RNN", "LSTM", "GRU"])
    p.add_argument("--config", default=None, help="T,B,I,H (--lm: B,T,H,V)")
    p.add_argument("--lm", action="store_true", help="the language model's training step")
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    p.add_argument("--no-compile", action="store_true", help="skip rnnkit under torch.compile")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.lm:
        steps = lm_steps(args.config or "32,64,256,1000")
    else:
        steps = layer_steps(args.cell, args.config or "100,32,128,256")
    if args.no_compile:
        del steps["compiled"]
    for step in steps.values():
        step()  # compiles before any timing
    times = dict(zip(steps, alternate(list(steps.values()), args.repeats), strict=True))
    for name, ts in times.items():
        low, mid = min(ts) * 1e3, statistics.median(ts) * 1e3
        print(f"{name:9s} min {low:8.2f} ms   median {mid:8.2f} ms")
    if "compiled" in times:
        ratio = paired_speedup(times["compiled"], times["rnnkit"])
        low, high = paired_interval(times["compiled"], times["rnnkit"])
        print(f"eager / compiled, median of back-to-back ratios: {ratio:.3f} "
              f"(95% interval {low:.3f}-{high:.3f})")  # fmt: skip


if __name__ == "__main__":
    main()
