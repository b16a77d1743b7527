"""``rnnkit complete DIR --prefix TEXT``: the K most likely next tokens, as autocomplete does."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rnnkit.cli.train import one_line_errors, positive_int


def register(subparsers: Any) -> None:
    p = one_line_errors(
        subparsers.add_parser(
            "complete",
            help="the K most likely next words or characters after a prefix",
            description="Print the K most likely next tokens after --prefix with their "
            "probabilities. At word level, a prefix ending inside a word is completed.",
        )
    )
    p.add_argument("dir", metavar="DIR", help="run directory written by `rnnkit train lm`")
    p.add_argument("--prefix", required=True, help="the text typed so far")
    p.add_argument("-k", type=positive_int, default=5, help="how many suggestions")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.tasks.lm import complete

    suggestions = complete(args.dir, args.prefix, args.k)
    if args.json:
        print(json.dumps({"prefix": args.prefix, "suggestions": suggestions}))
        return 0
    for s in suggestions:
        print(f"{s['prob']:8.4f}  {s['token']!r}")
    return 0
