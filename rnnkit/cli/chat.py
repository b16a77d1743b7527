"""``rnnkit chat RUN``: talk with a trained chat run. At a terminal it is an interactive loop
(readline editing and history, ``/quit`` or end of input to leave); otherwise each line of
standard input gets one reply line."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import torch

from rnnkit.cli.flags import number
from rnnkit.errors import RnnkitError

PROMPT = "you> "


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "chat",
        help="talk with a trained chat run",
        description="Reply to each line typed (or read from standard input) with a `rnnkit "
        "train chat` run: beam search by default, sampling with --temperature above 0.",
    )
    p.add_argument("dir", metavar="RUN", help="run folder of `rnnkit train chat`")
    p.add_argument("--beam", type=number(int, 1, 64), default=5, help="beam width (default 5)")
    p.add_argument("--temperature", type=number(float, 0, 10), default=0.0,
                   help="sample replies at this temperature (default 0: beam search)")  # fmt: skip
    p.add_argument("--top-p", type=number(float, 0, 1, lo_open=True), default=0.9,
                   help="nucleus of the sampling distribution (default 0.9)")  # fmt: skip
    p.add_argument("--seed", type=number(int, 0), default=None, help="seed of the sampling")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.runs.driver import load_run

    loaded = load_run(args.dir, task="chat")
    task = loaded.task
    generator = None if args.seed is None else torch.Generator().manual_seed(args.seed)

    def reply(line: str) -> str:
        try:
            text = task.parse_input(line)
        except RnnkitError as exc:  # one bad line does not end the conversation
            return f"({exc})"
        (row,) = task.decode(loaded.model, [text], beam=args.beam,
                             temperature=args.temperature, top_p=args.top_p,
                             generator=generator)  # fmt: skip
        return row["text"]

    interactive = sys.stdin.isatty()
    if interactive:
        import readline  # noqa: F401  (line editing and history for input())

        print("rnnkit chat: type a line, /quit to leave", file=sys.stderr)
    while True:
        try:
            line = input(PROMPT) if interactive else sys.stdin.readline()
        except EOFError:
            break
        if not interactive and not line:
            break
        line = line.strip()
        if line == "/quit":
            break
        if line:
            print(reply(line), flush=True)
    return 0
