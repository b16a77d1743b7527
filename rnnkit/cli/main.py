"""The ``rnnkit`` command: one sub-command per job, each a thin layer over a library function.

Each module listed in ``COMMAND_MODULES`` defines ``register(subparsers)``, which adds its
sub-command(s) and sets ``func`` (taking the parsed ``argparse.Namespace``, returning an exit
code) as the parser default. ``rnnkit train TASK``, ``evaluate`` and ``predict`` serve every
task in the registry (``rnnkit.tasks``). ``main`` is the one error wrapper: a ``RnnkitError`` is
one stderr line and exit code 2, and so is every bad flag of every sub-command. It is also the
edge where the rules for what a user gives apply to every command at once: each argument must
be UTF-8 text (``rnnkit.data.text.user_text``), every file a command writes is checked before
it starts (``rnnkit.cli.flags.check_outputs``), and every ``--help`` shows the defaults.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
import time
from pathlib import Path

from rnnkit.cli.flags import check_outputs, one_line_errors, show_defaults
from rnnkit.data.text import user_text
from rnnkit.errors import RnnkitError

COMMAND_MODULES: list[str] = [
    "rnnkit.cli.bench",
    "rnnkit.cli.memory_task",
    "rnnkit.cli.gradients",
    "rnnkit.cli.inspect",
    "rnnkit.cli.train",
    "rnnkit.cli.forecast",
    "rnnkit.cli.predict",
    "rnnkit.cli.lm",
    "rnnkit.cli.evaluate",
    "rnnkit.cli.demo",
    "rnnkit.cli.reorder",
    "rnnkit.cli.translate",
    "rnnkit.cli.chat",
    "rnnkit.cli.transcribe",
    "rnnkit.cli.caption",
    "rnnkit.cli.compose",
    "rnnkit.cli.export",
    "rnnkit.cli.serve",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnkit",
        description="Train, evaluate, generate with and look inside recurrent neural networks.",
    )
    parser.add_argument("--version", action="version", version=f"rnnkit {version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    _one_line_everywhere(parser)
    show_defaults(parser)
    return parser


def _one_line_everywhere(parser: argparse.ArgumentParser) -> None:
    one_line_errors(parser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _one_line_everywhere(sub)


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("rnnkit")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def process_started() -> float:
    """The ``time.monotonic()`` at which this process started (Linux's /proc/self/stat; now
    where that cannot be read), so that a time budget counts Python's and torch's start-up."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # field 22, starttime: clock ticks after boot
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return time.monotonic()
    return time.monotonic() - min(max(age, 0.0), 60.0)  # more than a minute: not ours alone


def main(argv: list[str] | None = None) -> int:
    # a command's time budget (train --max-time) counts from here: from the process's start
    # on the command line, from this call where a program calls main
    started = process_started() if argv is None else time.monotonic()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:  # Python hands over bytes that are not UTF-8 as lone surrogates: refused here, once
        for n, arg in enumerate(argv, 1):
            shown = arg.encode("utf-8", "replace")[:40].decode("utf-8", "ignore")  # whole chars
            user_text(arg, f"argument {n} ({shown!r})")
    except RnnkitError as exc:
        print(f"rnnkit: error: {exc}", file=sys.stderr)
        return 2
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a bad flag (already reported)
        return int(exc.code or 0)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        check_outputs(args)  # a file the command would write, refused before any work
        args.started = started
        return int(args.func(args) or 0)
    except RnnkitError as exc:
        print(f"rnnkit: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader (head, less) went away: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # after BrokenPipeError, an OSError too
        if exc.errno != errno.ENAMETOOLONG:
            raise
        # a path the user gave that the system refuses, wherever a command first touched it
        name = str(exc.filename or "")
        print(f"rnnkit: error: {name[:80]}...: {exc.strerror}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rnnkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
