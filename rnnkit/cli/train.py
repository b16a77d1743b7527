"""``rnnkit train TASK``: the shared ``train`` command and its ``lm`` task.

Other modules add their own training tasks (``train classify``, ``train tag``...) from their
``register(subparsers)``::

    from rnnkit.cli.train import train_subparsers

    def register(subparsers):
        p = train_subparsers(subparsers).add_parser("classify", help="...")
        p.add_argument(...)
        p.set_defaults(func=run)

``train_subparsers`` creates the ``train`` command the first time it is called for a given
top-level ``subparsers`` and returns the same object afterwards, so module order does not
matter. The flag types below (``positive_int``...) give one-line errors and exit code 2.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

_ATTR = "_rnnkit_train_subparsers"


def _one_line_error(parser: argparse.ArgumentParser):
    def error(message: str):
        parser.exit(2, f"{parser.prog}: error: {message}\n")

    return error


def one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make ``parser`` report a bad flag in one stderr line (no usage block), exit code 2."""
    parser.error = _one_line_error(parser)  # type: ignore[method-assign]
    return parser


def _number(kind: type, lo: float, hi: float, lo_open: bool = False):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a valid {kind.__name__}: {text!r}") from None
        if not math.isfinite(value) or value < lo or value > hi or (lo_open and value == lo):
            low = f"({lo:g}" if lo_open else f"[{lo:g}"
            raise argparse.ArgumentTypeError(f"{text} is out of range {low}, {hi:g}]")
        return value

    parse.__name__ = kind.__name__
    return parse


positive_int = _number(int, 1, 10**9)
nonneg_int = _number(int, 0, 2**63 - 1)
positive_float = _number(float, 0, 1e9, lo_open=True)
nonneg_float = _number(float, 0, 1e9)
probability = _number(float, 0, 1, lo_open=True)
dropout_rate = _number(float, 0, 0.99)


def train_subparsers(subparsers: Any) -> Any:
    """The sub-parsers of ``rnnkit train``, created on first use (see the module docstring)."""
    existing = getattr(subparsers, _ATTR, None)
    if existing is not None:
        return existing
    p = one_line_errors(
        subparsers.add_parser(
            "train",
            help="train a model (rnnkit train TASK --help)",
            description="Train a model. Pick a task; each has its own --help.",
        )
    )
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    sub = p.add_subparsers(dest="train_task", metavar="TASK")
    setattr(subparsers, _ATTR, sub)
    return sub


def add_lm_arguments(p: argparse.ArgumentParser) -> None:
    """The model and data flags of ``train lm`` (shared with ``demo`` and bench)."""
    p.add_argument("--data", metavar="FILE", help="UTF-8 text file (default: bundled Shakespeare)")
    p.add_argument("--level", choices=["char", "word"], default="char", help="token level")
    p.add_argument(
        "--cell", choices=["lstm", "gru", "rnn", "jordan"], default="lstm", help="recurrent cell"
    )
    p.add_argument("--hidden", type=positive_int, default=256, help="hidden units per layer")
    p.add_argument("--layers", type=positive_int, default=2, help="stacked recurrent layers")
    p.add_argument("--embed", type=positive_int, default=64, help="embedding size")
    p.add_argument("--one-hot", action="store_true", help="one-hot inputs instead of embeddings")
    p.add_argument("--dropout", type=dropout_rate, default=0.0, help="dropout between layers")
    p.add_argument("--seq-len", type=positive_int, default=100, help="BPTT chunk length")
    p.add_argument("--batch-size", type=positive_int, default=32, help="parallel streams (global)")
    p.add_argument("--lr", type=positive_float, default=2e-3, help="peak learning rate")
    p.add_argument("--clip", type=nonneg_float, default=1.0, help="gradient-norm clip (0: off)")
    p.add_argument(
        "--optimizer", choices=["adam", "adamw", "sgd"], default="adam", help="optimiser"
    )
    p.add_argument("--vocab-size", type=positive_int, default=10000, help="word-level vocab cap")
    p.add_argument("--eval-every", type=positive_int, default=100, help="steps between validations")
    p.add_argument(
        "--backend", choices=["rnnkit", "torch"], default="rnnkit", help="recurrent layers to use"
    )
    p.add_argument("--seed", type=nonneg_int, default=0, help="random seed")


def register(subparsers: Any) -> None:
    p = one_line_errors(
        train_subparsers(subparsers).add_parser(
            "lm",
            help="train a language model on text",
            description="Train a next-token language model (default: on the bundled Shakespeare "
            "plays). Ends by printing a sample, the validation figures and where the "
            "checkpoint and loss plot are.",
        )
    )
    add_lm_arguments(p)
    p.add_argument("--max-steps", type=positive_int, help="stop after this many steps")
    p.add_argument("--max-time", type=positive_float, metavar="SECONDS", help="time budget")
    p.add_argument("--epochs", type=positive_int, help="stop after this many passes")
    p.add_argument(
        "--out", default="runs/lm", metavar="DIR", help="run directory (default: %(default)s)"
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--nproc", type=_number(int, 1, 256), default=1, help="data-parallel processes")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.tasks.lm import generate, train_lm

    summary = train_lm(
        args.data,
        out=args.out,
        level=args.level,
        cell=args.cell,
        hidden=args.hidden,
        layers=args.layers,
        embed=args.embed,
        one_hot=args.one_hot,
        dropout=args.dropout,
        seq_len=args.seq_len,
        batch_size=args.batch_size,
        lr=args.lr,
        clip=args.clip,
        optimizer=args.optimizer,
        max_steps=args.max_steps,
        max_time=args.max_time,
        epochs=args.epochs,
        eval_every=args.eval_every,
        vocab_size=args.vocab_size,
        backend=args.backend,
        resume=args.resume,
        seed=args.seed,
        nproc=args.nproc,
        progress=not args.quiet,
    )
    if not summary:
        return 0  # a rank other than 0 under torchrun: rank 0 reports
    print_summary(summary, Path(args.out))
    print("\nSample:\n", flush=True)
    for piece in generate(args.out, length=300, seed=args.seed):
        sys.stdout.write(piece)
    sys.stdout.write("\n")
    return 0


def print_summary(summary: dict, out: Path) -> None:
    from rnnkit.tasks.lm import evaluate_lm

    ev = evaluate_lm(out)
    figure = (
        f"{ev['bits_per_char']:.3f} bits/char"
        if "bits_per_char" in ev
        else f"perplexity {ev['perplexity']:.1f}"
    )
    s = summary
    print(f"Trained {s['steps']} steps in {s['elapsed_s']:.0f} s ({s['stop_reason']}).")
    print(
        f"Validation loss {ev['loss']:.4f} nats/token, {figure} "
        f"(best checkpoint, step {s['best_step']})."
    )
    print(f"Checkpoint: {out}    loss plot: {out / 'loss.png'}    metrics: {out / 'metrics.jsonl'}")
