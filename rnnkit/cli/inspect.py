"""``rnnkit inspect``: one self-contained HTML page of a model's neurons over a text."""

from __future__ import annotations

import argparse

from rnnkit.analysis.inspect import inspect_run
from rnnkit.cli.flags import add_output, number


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "inspect",
        help="view a trained model's neuron activations over a text (HTML)",
        description="Write one HTML page (no network needed) that colours TEXT by a chosen "
        "neuron's activation, lists the most interesting neurons (largest variance, strongest "
        "correlation with inside-quotes, inside-brackets, position in line, uppercase, space) "
        "and shows the five most likely next tokens on hover.",
    )
    p.add_argument("dir", help="a language-model run directory")
    p.add_argument("--text", required=True, help="a UTF-8 file, or the text itself")
    add_output(p, "--out", (".html", ".htm"), "the HTML file to write", default="view.html")
    p.add_argument(
        "--max-tokens",
        type=number(int, 1, 100_000),
        default=3000,
        help="tokens shown (default 3000)",
    )
    p.add_argument(
        "--per-list", type=number(int, 1, 1000), default=8, help="neurons offered per ranking"
    )
    p.add_argument(
        "--which", choices=("best", "latest"), default="best", help="the checkpoint to read"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    r = inspect_run(
        args.dir,
        args.text,
        args.out,
        max_tokens=args.max_tokens,
        per_list=args.per_list,
        which=args.which,
    )
    print(f"wrote {r['out']}: {r['tokens']} tokens, {len(r['neurons'])} neurons to choose from")
    for n in r["neurons"][:10]:
        print(f"  {n['name']:22s} {n['reason']:28s} {n['score']:+.3f}")
    return 0
