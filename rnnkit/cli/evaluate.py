"""``rnnkit evaluate DIR``: loss and bits per character (or perplexity) on held-out text."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rnnkit.cli.train import one_line_errors


def register(subparsers: Any) -> None:
    p = one_line_errors(
        subparsers.add_parser(
            "evaluate",
            help="loss, bits per character or perplexity of a language model",
            description="Evaluate the best checkpoint on --data FILE, or by default on the "
            "held-out tail of the text it was trained on.",
        )
    )
    p.add_argument("dir", metavar="DIR", help="run directory written by `rnnkit train lm`")
    p.add_argument("--data", metavar="FILE", help="UTF-8 text to evaluate on")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.tasks.lm import evaluate_lm

    r = evaluate_lm(args.dir, args.data)
    if args.json:
        print(json.dumps(r))
        return 0
    extra = (
        f"{r['bits_per_char']:.4f} bits per character"
        if "bits_per_char" in r
        else f"perplexity {r['perplexity']:.2f}"
    )
    print(f"{r['data']}: {r['tokens']} tokens, loss {r['loss']:.4f} nats/token, {extra}")
    return 0
