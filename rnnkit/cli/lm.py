"""The language-model commands: ``generate``, ``complete`` and ``score`` a trained ``lm`` run."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from rnnkit.cli.flags import emit, nonneg_float, nonneg_int, positive_int, probability

RUN_HELP = "run folder written by `rnnkit train lm`"


def register(subparsers: Any) -> None:
    g = subparsers.add_parser(
        "generate",
        help="generate text with a trained language model",
        description="Sample text token by token and print it as it is made.",
    )
    g.add_argument("dir", metavar="RUN", help=RUN_HELP)
    g.add_argument("--prime", default="", help="text to start from (default: a line break)")
    g.add_argument("--length", type=nonneg_int, default=500, help="tokens to generate")
    g.add_argument("--temperature", type=nonneg_float, default=0.8,
                   help="softmax temperature (0: greedy)")  # fmt: skip
    g.add_argument("--top-k", type=positive_int, help="sample among the K most likely tokens")
    g.add_argument("--top-p", type=probability, help="nucleus sampling: smallest set of mass P")
    g.add_argument("--seed", type=nonneg_int, help="random seed for a repeatable sample")
    g.set_defaults(func=run_generate)

    c = subparsers.add_parser(
        "complete",
        help="the K most likely next words or characters after a prefix",
        description="Print the K most likely next tokens after --prefix with their "
        "probabilities. At word level, a prefix ending inside a word is completed.",
    )
    c.add_argument("dir", metavar="RUN", help=RUN_HELP)
    c.add_argument("--prefix", required=True, help="the text typed so far")
    c.add_argument("-k", type=positive_int, default=5, help="how many suggestions")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    c.set_defaults(func=run_complete)

    s = subparsers.add_parser(
        "score",
        help="log-probability of a text under a language model",
        description="Print log p(TEXT) (natural log), in total and per token.",
    )
    s.add_argument("dir", metavar="RUN", help=RUN_HELP)
    s.add_argument("text", metavar="TEXT", help="the sentence to score")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(func=run_score)


def run_generate(args: argparse.Namespace) -> int:
    from rnnkit.runs.lm import generate

    pieces = generate(
        args.dir, args.prime, args.length, args.temperature, args.top_k, args.top_p, args.seed
    )
    first = next(pieces, "")  # a bad prime fails here, before any output
    sys.stdout.write(args.prime + first)
    for piece in pieces:
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0


def run_complete(args: argparse.Namespace) -> int:
    from rnnkit.runs.lm import complete

    suggestions = complete(args.dir, args.prefix, args.k)
    text = "\n".join(f"{s['prob']:8.4f}  {s['token']!r}" for s in suggestions)
    emit({"prefix": args.prefix, "suggestions": suggestions}, args.json, text)
    return 0


def run_score(args: argparse.Namespace) -> int:
    from rnnkit.runs.lm import score

    r = score(args.dir, args.text)
    lines = [f"{t['logprob']:9.4f}  {t['token']!r}" for t in r["tokens"]]
    lines.append(
        f"total log-probability {r['total_logprob']:.4f} nats over {len(r['tokens'])} tokens "
        f"(mean {r['mean_logprob']:.4f}, perplexity {math.exp(-r['mean_logprob']):.2f})"
    )
    emit({"text": args.text, **r}, args.json, "\n".join(lines))
    return 0
