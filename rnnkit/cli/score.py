"""``rnnkit score DIR TEXT``: the log-probability of a sentence, total and per token."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from rnnkit.cli.train import one_line_errors


def register(subparsers: Any) -> None:
    p = one_line_errors(
        subparsers.add_parser(
            "score",
            help="log-probability of a text under a language model",
            description="Print log p(TEXT) (natural log), in total and per token.",
        )
    )
    p.add_argument("dir", metavar="DIR", help="run directory written by `rnnkit train lm`")
    p.add_argument("text", metavar="TEXT", help="the sentence to score")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.tasks.lm import score

    result = score(args.dir, args.text)
    if args.json:
        print(json.dumps({"text": args.text, **result}))
        return 0
    for t in result["tokens"]:
        print(f"{t['logprob']:9.4f}  {t['token']!r}")
    n = len(result["tokens"])
    print(
        f"total log-probability {result['total_logprob']:.4f} nats over {n} tokens "
        f"(mean {result['mean_logprob']:.4f}, perplexity {math.exp(-result['mean_logprob']):.2f})"
    )
    return 0
