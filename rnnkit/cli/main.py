"""The ``rnnkit`` command: one sub-command per job, each a thin layer over a task function.

Each module listed in ``COMMAND_MODULES`` defines ``register(subparsers)``, which adds its
sub-command(s) and sets ``func`` (taking the parsed ``argparse.Namespace``, returning an exit
code) as the parser default.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from rnnkit.errors import RnnkitError

COMMAND_MODULES: list[str] = [
    "rnnkit.cli.bench",
    "rnnkit.cli.memory_task",
    "rnnkit.cli.gradients",
    "rnnkit.cli.inspect",
    "rnnkit.cli.train",
    "rnnkit.cli.classify",
    "rnnkit.cli.tag",
    "rnnkit.cli.forecast",
    "rnnkit.cli.predict",
    "rnnkit.cli.generate",
    "rnnkit.cli.complete",
    "rnnkit.cli.score",
    "rnnkit.cli.evaluate",
    "rnnkit.cli.demo",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnkit",
        description="Train, evaluate, generate with and look inside recurrent neural networks.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except RnnkitError as exc:
        print(f"rnnkit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rnnkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
