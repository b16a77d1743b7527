"""``rnnkit translate RUN "text"... | --input FILE``: ``predict`` of a translate run with its
decoding options, and an attention heat map on request."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from rnnkit.cli.flags import add_output, emit
from rnnkit.cli.predict import add_decoding_flags, decoding_options
from rnnkit.errors import RnnkitError


def register(subparsers: Any) -> None:
    from rnnkit.tasks.base import get_task

    p = subparsers.add_parser(
        "translate",
        help="translate texts with a trained translate run",
        description="Print the translation a `rnnkit train translate` run gives each TEXT (or "
        "each line of --input FILE): beam search, --beam 1 for greedy decoding, --temperature "
        "to sample; --attention FILE.png draws the first one's attention.",
    )
    p.add_argument("dir", metavar="RUN", help="run folder of `rnnkit train translate`")
    p.add_argument("texts", metavar="TEXT", nargs="*", help="texts in the source language")
    p.add_argument("--input", metavar="FILE", help="one text per line, or a table's source column")
    add_decoding_flags(p, get_task("translate").decoding, {"beam": 5})
    add_output(p, "--attention", (".png",), "write the first input's attention PNG")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.plots.attention import plot_attention
    from rnnkit.runs.driver import load_run

    if bool(args.texts) == bool(args.input):
        raise RnnkitError("give texts to translate or --input FILE, not both or neither")
    loaded = load_run(args.dir, task="translate")
    task = loaded.task
    inputs = task.read_inputs(args.input) if args.input else args.texts
    rows = loaded.predict(inputs, **decoding_options(args, task))
    if args.attention:
        first = rows[0]
        if first["attention"] is None:
            raise RnnkitError("this run has no attention (trained with attention none)")
        plot_attention(torch.tensor(first["attention"]), first["source_tokens"],
                       [*first["output_tokens"], "</s>"], Path(args.attention))  # fmt: skip
    emit(rows, args.json, "\n".join(r["output"] for r in rows))
    return 0
