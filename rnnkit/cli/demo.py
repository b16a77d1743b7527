"""``rnnkit demo``: train a character model on the bundled Shakespeare, then write a sample."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from rnnkit.cli.flags import positive_float


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo",
        help="train a Shakespeare character model for ~3 minutes and print a sample",
        description="Train the default language model on the bundled Shakespeare plays "
        "for --minutes, then generate text in their style.",
    )
    p.add_argument("--minutes", type=positive_float, default=3.0, help="training time")
    p.add_argument("--out", metavar="DIR", help="run directory (default: runs/demo-TIMESTAMP)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.cli.train import describe_training
    from rnnkit.runs.lm import generate, train_lm
    from rnnkit.tasks.lm import LMTask

    out = Path(args.out or time.strftime("runs/demo-%Y%m%d-%H%M%S"))
    print(f"Training a 2x256 LSTM on Shakespeare for {args.minutes:g} min into {out} ...")
    results = train_lm(out=out, max_time=args.minutes * 60)
    print(describe_training(results, str(out)))
    print(LMTask.format_results(results).split("\n\nSample")[0])
    prime = "ROMEO:"
    print(f"\nSample (rnnkit generate {out} --prime '{prime}' --length 600):\n")
    sys.stdout.write(prime)
    for piece in generate(out, prime=prime, length=600, seed=0):
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0
