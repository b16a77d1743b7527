"""``rnnkit train classify``: many-to-one sequence classification on a table or named dataset.

Also holds the flags every issue-6 training task shares (``add_fit_arguments``), so that
``train tag`` and ``train forecast`` spell them the same way.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from rnnkit.cli.train import (
    dropout_rate,
    nonneg_float,
    nonneg_int,
    one_line_errors,
    positive_float,
    positive_int,
    probability,
    train_subparsers,
)


def add_fit_arguments(
    p: argparse.ArgumentParser, epochs: int, batch: int, hidden: int, eval_every: int = 100
) -> None:
    """Model size, optimisation, stopping, split and output flags (defaults per task)."""
    p.add_argument("--cell", choices=["lstm", "gru", "rnn"], default="lstm", help="recurrent cell")
    p.add_argument("--hidden", type=positive_int, default=hidden, help="hidden units per layer")
    p.add_argument("--layers", type=positive_int, default=1, help="stacked recurrent layers")
    p.add_argument("--backend", choices=["rnnkit", "torch"], default="rnnkit",
                   help="recurrent layers to use")  # fmt: skip
    if batch:
        p.add_argument("--batch-size", type=positive_int, default=batch, help="sequences per step")
    else:
        help = "sequences per step (default: 64, or 32 under 5,000 training examples)"
        p.add_argument("--batch-size", type=positive_int, help=help)
    p.add_argument("--lr", type=positive_float, default=3e-3, help="peak learning rate (Adam)")
    p.add_argument("--clip", type=nonneg_float, default=1.0, help="gradient-norm clip (0: off)")
    p.add_argument("--epochs", type=positive_int, default=epochs, help="passes over the data")
    p.add_argument("--max-steps", type=positive_int, help="stop after this many steps")
    p.add_argument("--max-time", type=positive_float, metavar="SECONDS", help="time budget")
    p.add_argument(
        "--eval-every", type=positive_int, default=eval_every, help="steps between validations"
    )
    p.add_argument("--patience", type=positive_int, default=5,
                   help="validations without improvement before stopping")  # fmt: skip
    p.add_argument("--val", type=probability, default=0.1, help="validation fraction")
    p.add_argument("--seed", type=nonneg_int, default=0, help="random seed (split and init)")
    p.add_argument("--out", metavar="DIR", required=True, help="run directory (must be empty)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the results as JSON")


def train_config(args: argparse.Namespace):
    from rnnkit.train import TrainConfig

    return TrainConfig(
        lr=args.lr, clip=args.clip, epochs=args.epochs, max_steps=args.max_steps,
        max_time=args.max_time, eval_every=args.eval_every, patience=args.patience,
        seed=args.seed, progress=not args.quiet,
    )  # fmt: skip


def emit(results: dict[str, Any], as_json: bool, text: str) -> None:
    print(json.dumps(results, indent=2) if as_json else text, flush=True)


def register(subparsers: Any) -> None:
    p = one_line_errors(
        train_subparsers(subparsers).add_parser(
            "classify",
            help="train a sequence classifier (sentiment...)",
            description="Train a many-to-one classifier on a CSV/TSV/JSONL file with a text and "
            "a label column, or on a named dataset. Prints test accuracy and macro-F1 beside "
            "TF-IDF + logistic regression on the same split, and writes confusion.png.",
        )
    )
    src = p.add_argument_group("data")
    src.add_argument("--data", metavar="FILE", help=".csv, .tsv or .jsonl file")
    src.add_argument(
        "--dataset",
        metavar="NAME",
        help="sentiment-movies, sentiment-tweets, sentiment-amazon, digits-rows",
    )
    src.add_argument("--text-col", metavar="NAME", help="text column (default: guessed)")
    src.add_argument("--label-col", metavar="NAME", help="label column (default: guessed)")
    src.add_argument("--level", choices=["word", "char"], default="word", help="token level")
    src.add_argument("--vocab-size", type=positive_int, default=20000, help="word vocab cap")
    src.add_argument("--test", type=probability, default=0.1, help="held-out test fraction")
    m = p.add_argument_group("model")
    m.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=True,
                   help="read both ways (default; --no-bidirectional: left to right)")  # fmt: skip
    m.add_argument("--pool", choices=["last", "mean", "max"], default="max",
                   help="how the steps' outputs become one vector")  # fmt: skip
    m.add_argument("--embed", type=positive_int, default=128, help="embedding size")
    m.add_argument("--dropout", type=dropout_rate, default=0.5, help="embedding/head dropout")
    add_fit_arguments(p, epochs=30, batch=0, hidden=128)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.tasks.classify import format_results, load_data, train_classifier

    data, source = load_data(args.data, args.dataset, args.text_col, args.label_col)
    model = {
        "hidden_size": args.hidden, "num_layers": args.layers, "cell": args.cell,
        "bidirectional": args.bidirectional, "pool": args.pool, "embed_dim": args.embed,
        "dropout": args.dropout, "backend": args.backend,
    }  # fmt: skip
    results = train_classifier(
        data, args.out, source=source, level=args.level, model_config=model,
        train_config=train_config(args), batch_size=args.batch_size, max_vocab=args.vocab_size,
        val=args.val, test=args.test, resume=args.resume,
    )  # fmt: skip
    emit(results, args.json, format_results(results) + f"\nmodel: {args.out}")
    return 0
