"""``rnnkit memory-task``: the adding problem and the copy task, one run or the whole table."""

from __future__ import annotations

import argparse
import json

from rnnkit.analysis.memory import LENGTHS, memory_table, train_memory_task
from rnnkit.cli.flags import number
from rnnkit.data.synthetic import TASKS
from rnnkit.errors import RnnkitError
from rnnkit.models.recurrent import CELLS


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "memory-task",
        help="train a cell on the adding problem or the copy task",
        description="Train and evaluate on a long-memory task. The adding problem is solved "
        "at test MSE < 0.01 (predicting the mean scores ~0.167); the copy task at per-symbol "
        "accuracy > 0.99. --all runs every cell at lengths 50, 100, 200 and writes the table.",
    )
    p.add_argument("--task", choices=TASKS, default="adding", help="the task of one run")
    p.add_argument("--cell", default="lstm", help=f"one of {', '.join(CELLS)}")
    p.add_argument(
        "--length",
        type=number(int, 2, 100_000),
        default=100,
        help="sequence length (copy: the delay)",
    )
    p.add_argument("--all", action="store_true", help="run the table cells x tasks x lengths")
    p.add_argument("--cells", default="rnn,lstm,gru", help="cells for --all, comma-separated")
    p.add_argument("--tasks", default="adding,copy", help="tasks for --all, comma-separated")
    p.add_argument("--lengths", default=",".join(map(str, LENGTHS)), help="lengths for --all")
    p.add_argument("--hidden", type=number(int, 1, 16384), default=64, help="hidden units")
    p.add_argument(
        "--batch-size", type=number(int, 1, 65536), default=64, help="sequences per batch"
    )
    p.add_argument(
        "--lr", type=number(float, 0, 10, lo_open=True), default=5e-3, help="learning rate"
    )
    p.add_argument(
        "--max-steps", type=number(int, 1, 10**9), default=3000, help="training steps per run"
    )
    p.add_argument(
        "--max-time",
        type=number(float, 0, 1e8, lo_open=True),
        default=None,
        help="seconds of training per run",
    )
    p.add_argument(
        "--clip", type=number(float, 0, 1e9), default=1.0, help="gradient-norm threshold; 0: off"
    )
    p.add_argument(
        "--forget-bias", type=number(float, -100, 100), default=1.0, help="LSTM forget-gate bias"
    )
    p.add_argument("--seed", type=number(int, 0, 2**63 - 1), default=0, help="random seed")
    p.add_argument("--out", default=None, help="run directory (one run) or table directory")
    p.set_defaults(func=run)


def lengths(text: str) -> list[int]:
    try:
        values = [int(n) for n in text.split(",") if n.strip()]
    except ValueError:
        raise RnnkitError(f"--lengths wants comma-separated whole numbers, got {text!r}") from None
    if not values or min(values) < 2:
        raise RnnkitError(f"--lengths must all be at least 2, got {text!r}")
    return values


def run(args: argparse.Namespace) -> int:
    common = dict(
        hidden=args.hidden,
        batch_size=args.batch_size,
        lr=args.lr,
        max_steps=args.max_steps,
        max_time=args.max_time,
        clip=args.clip,
        forget_bias=args.forget_bias,
        seed=args.seed,
    )
    if args.all:
        rows = memory_table(
            args.tasks.split(","),
            args.cells.split(","),
            lengths(args.lengths),
            out=args.out or "memory-table",
            **common,
        )
        print(json.dumps(rows, indent=1))
        return 0
    result = train_memory_task(args.task, args.cell, args.length, out=args.out, **common)
    print(json.dumps(result, indent=1))
    return 0
