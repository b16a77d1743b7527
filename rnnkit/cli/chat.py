"""``rnnkit chat RUN``: talk with a trained chat run. At a terminal it is an interactive loop
(readline editing and history, ``/quit`` or end of input to leave); otherwise each line of
standard input gets one reply line. It answers with the decoding the run chose on its
validation split after training (results.json "decoding"), or as ``rnnkit predict``'s decoding
flags say; the draws of the whole conversation come from one generator seeded once (with
``--seed``, or the chosen decoding's seed)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import torch

from rnnkit.cli.predict import add_decoding_flags, decoding_options
from rnnkit.data.text import user_text
from rnnkit.errors import RnnkitError

PROMPT = "you> "


def register(subparsers: Any) -> None:
    from rnnkit.tasks.base import get_task

    p = subparsers.add_parser(
        "chat",
        help="talk with a trained chat run",
        description="Reply to each line typed (or read from standard input) with a `rnnkit "
        "train chat` run: with the decoding the run chose on its validation split by default "
        '(results.json "decoding"), with --beam N, or sampling with --temperature above 0.',
    )
    p.add_argument("dir", metavar="RUN", help="run folder of `rnnkit train chat`")
    add_decoding_flags(p, get_task("chat").decoding)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.runs.driver import load_run

    loaded = load_run(args.dir, task="chat")
    task = loaded.task
    decoding = task.decoding_for(**decoding_options(args, task))
    generator = None
    if decoding.sampling and decoding.seed is not None:
        device = next(loaded.model.parameters()).device
        generator = torch.Generator(device).manual_seed(decoding.seed)

    def reply(line: str) -> str:
        try:
            text = task.parse_input(user_text(line, "this line"))
        except RnnkitError as exc:  # one bad line does not end the conversation
            return f"({exc})"
        (row,) = task.decode_with(loaded.model, [text], decoding, generator)
        return row["text"]

    interactive = sys.stdin.isatty()
    if interactive:
        import readline  # noqa: F401  (line editing and history for input())

        print("rnnkit chat: type a line, /quit to leave", file=sys.stderr)
    while True:
        try:
            line = input(PROMPT) if interactive else read_line()
        except EOFError:
            break
        if line is None:
            break
        line = line.strip()
        if line == "/quit":
            break
        if line:
            print(reply(line), flush=True)
    return 0


def read_line() -> str | None:
    """The next line of standard input (None at its end), its bytes decoded here: bytes that
    are not UTF-8 stay as lone surrogates, which ``user_text`` in ``reply`` answers with the
    one-line refusal (the conversation goes on)."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # a text stream put in place of standard input (tests, embedding)
        return sys.stdin.readline() or None
    raw = stream.readline()
    return raw.decode("utf-8", "surrogateescape") if raw else None
