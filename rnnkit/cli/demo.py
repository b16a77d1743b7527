"""``rnnkit demo``: train a character model on the bundled Shakespeare, then write a sample."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from rnnkit.cli.train import one_line_errors, positive_float


def register(subparsers: Any) -> None:
    p = one_line_errors(
        subparsers.add_parser(
            "demo",
            help="train a Shakespeare character model for ~3 minutes and print a sample",
            description="Train the default language model on the bundled Shakespeare plays "
            "for --minutes, then generate text in their style.",
        )
    )
    p.add_argument("--minutes", type=positive_float, default=3.0, help="training time")
    p.add_argument("--out", metavar="DIR", help="run directory (default: runs/demo-TIMESTAMP)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.cli.train import print_summary
    from rnnkit.tasks.lm import generate, train_lm

    out = Path(args.out or time.strftime("runs/demo-%Y%m%d-%H%M%S"))
    print(f"Training a 2x256 LSTM on Shakespeare for {args.minutes:g} min into {out} ...")
    summary = train_lm(out=out, max_time=args.minutes * 60)
    print_summary(summary, out)
    prime = "ROMEO:\n"
    print(f"\nSample (rnnkit generate {out} --prime 'ROMEO:\\n' --length 600):\n")
    sys.stdout.write(prime)
    for piece in generate(out, prime=prime, length=600, seed=0):
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0
