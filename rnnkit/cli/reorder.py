"""``rnnkit reorder RUN "words in any order"``: ``predict`` of a reorder run with its decoding
options, and the attention heat map drawn on request."""

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
        "reorder",
        help="put shuffled words in order with a trained reorder run",
        description="Print the order a `rnnkit train reorder` run gives the words of each "
        "SENTENCE (beam search, --beam 1 for greedy decoding); --attention FILE.png draws the "
        "first one's attention.",
    )
    p.add_argument("dir", metavar="RUN", help="run folder of `rnnkit train reorder`")
    p.add_argument("sentences", metavar="SENTENCE", nargs="+", help="words in any order")
    add_decoding_flags(p, get_task("reorder").decoding)
    add_output(p, "--attention", (".png",), "write the first input's attention PNG")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.plots.attention import plot_attention
    from rnnkit.runs.driver import load_run

    loaded = load_run(args.dir, task="reorder")
    decoding = decoding_options(args, loaded.task)
    rows = loaded.predict([loaded.task.parse_input(s) for s in args.sentences], **decoding)
    if args.attention:
        first = rows[0]
        if first["attention"] is None:
            raise RnnkitError("this run has no attention (trained with attention none)")
        source, output = first["input"].split(), [*first["output"].split(), "</s>"]
        plot_attention(torch.tensor(first["attention"]), source, output, Path(args.attention))
    emit(rows, args.json, "\n".join(r["output"] for r in rows))
    return 0
