"""``rnnkit train tag``: many-to-many tagging (NER, POS) on a CoNLL file or named dataset."""

from __future__ import annotations

import argparse
from typing import Any

from rnnkit.cli.classify import add_fit_arguments, emit, train_config
from rnnkit.cli.train import (
    dropout_rate,
    one_line_errors,
    positive_int,
    probability,
    train_subparsers,
)


def register(subparsers: Any) -> None:
    p = one_line_errors(
        train_subparsers(subparsers).add_parser(
            "tag",
            help="train a sequence tagger (named entities, parts of speech)",
            description="Train a bidirectional recurrent tagger on a CoNLL file (TOKEN<tab>TAG "
            "per line, a blank line between sentences) or a named dataset. Prints entity-level "
            "precision/recall/F1 (BIO tags, seqeval) or token accuracy beside the "
            "most-frequent-tag baseline on the same test split.",
        )
    )
    p.add_argument("--data", metavar="FILE.conll", help="CoNLL file")
    p.add_argument("--dataset", metavar="NAME", help="ner-wnut16")
    p.add_argument("--test", type=probability, default=0.2, help="held-out test fraction")
    p.add_argument("--embed", type=positive_int, default=100, help="word embedding size")
    p.add_argument("--unidirectional", action="store_true", help="read left to right only")
    p.add_argument("--dropout", type=dropout_rate, default=0.3, help="dropout")
    add_fit_arguments(p, epochs=20, batch=32, hidden=128, eval_every=50)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.tasks.tag import format_results, load_data, train_tagger

    sentences, source = load_data(args.data, args.dataset)
    model = {
        "hidden_size": args.hidden, "num_layers": args.layers, "cell": args.cell,
        "bidirectional": not args.unidirectional, "embed_dim": args.embed,
        "dropout": args.dropout, "backend": args.backend,
    }  # fmt: skip
    results = train_tagger(
        sentences, args.out, source=source, model_config=model, train_config=train_config(args),
        batch_size=args.batch_size, val=args.val, test=args.test, resume=args.resume,
    )  # fmt: skip
    emit(results, args.json, format_results(results) + f"\nmodel: {args.out}")
    return 0
