"""``rnnkit generate DIR``: sample text from a trained language model, streamed as it is made."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rnnkit.cli.train import nonneg_float, nonneg_int, one_line_errors, positive_int, probability


def register(subparsers: Any) -> None:
    p = one_line_errors(
        subparsers.add_parser(
            "generate",
            help="generate text with a trained language model",
            description="Sample text token by token and print it as it is made.",
        )
    )
    p.add_argument("dir", metavar="DIR", help="run directory written by `rnnkit train lm`")
    p.add_argument("--prime", default="", help="text to start from (default: a line break)")
    p.add_argument("--length", type=nonneg_int, default=500, help="tokens to generate")
    p.add_argument(
        "--temperature", type=nonneg_float, default=0.8, help="softmax temperature (0: greedy)"
    )
    p.add_argument("--top-k", type=positive_int, help="sample among the K most likely tokens")
    p.add_argument("--top-p", type=probability, help="nucleus sampling: smallest set of mass P")
    p.add_argument("--seed", type=nonneg_int, help="random seed for a repeatable sample")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.tasks.lm import generate

    pieces = generate(
        args.dir, args.prime, args.length, args.temperature, args.top_k, args.top_p, args.seed
    )
    first = next(pieces, "")  # a bad checkpoint or prime fails here, before any output
    sys.stdout.write(args.prime + first)
    for piece in pieces:
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0
