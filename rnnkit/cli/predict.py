"""``rnnkit predict RUN``: a trained model's predictions for new inputs, from any task.

The decoding flags (``--beam``, ``--temperature``, ``--top-p``, ``--seed``) reach the task's
``predict`` when the run's task names them in its ``decoding``; one it does not name is
refused. ``rnnkit translate``, ``chat``, ``reorder`` and ``caption`` take the same flags.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from rnnkit.cli.evaluate import add_input_settings, run_with_inputs
from rnnkit.cli.flags import add_output, check_outputs, emit, number
from rnnkit.errors import RnnkitError
from rnnkit.files import atomic_write_bytes

OUTPUT_SUFFIXES = (".jsonl", ".csv")


def ranged(name: str) -> Callable[[str], Any]:
    """The argparse type of decoding option ``name``: its type and range, one-line errors."""
    from rnnkit.runs.predict import DECODING_RANGES

    kind, lo, hi, lo_open = DECODING_RANGES[name]
    return number(kind, lo, hi, lo_open=lo_open)


# each option a task's `decoding` may name: (its flag's type, metavar, help, what unset means)
# (ranges: rnnkit.runs.predict.DECODING_RANGES, which the HTTP server checks too)
DECODING_FLAGS: dict[str, tuple[Callable[[str], Any], str, str, str]] = {
    "beam": (ranged("beam"), "N", "beam width, 1: greedy decoding", "the run's"),
    "temperature": (ranged("temperature"), "T", "sample at this temperature above 0",
                    "0, no sampling"),
    "top_p": (ranged("top_p"), "P",
              "sample from the smallest set of tokens holding this share of the probability",
              "the task's"),
    "seed": (ranged("seed"), "S", "seed of the sampling, for draws that repeat", "none"),
}  # fmt: skip


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_decoding_flags(
    p: argparse.ArgumentParser | Any, names: Iterable[str] = tuple(DECODING_FLAGS),
    defaults: dict[str, Any] | None = None,
) -> None:  # fmt: skip
    """The flags of the decoding options ``names``; an option not given is None (the task's
    default) unless ``defaults`` names it."""
    defaults = defaults or {}
    for name in names:
        kind, metavar, help_text, unset = DECODING_FLAGS[name]
        default = defaults.get(name)
        help_text += f" (default: {unset if default is None else default})"
        p.add_argument(flag(name), dest=name, type=kind, default=default, metavar=metavar,
                       help=help_text)  # fmt: skip


def decoding_options(args: argparse.Namespace, task: Any) -> dict[str, Any]:
    """The decoding flags given, by option name; one the run's task does not take is refused."""
    from rnnkit.runs.predict import check_decoding

    return check_decoding(task, {n: getattr(args, n, None) for n in DECODING_FLAGS}, flag)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "predict",
        help="predict with a trained model: labels, tags, forecasts, next tokens",
        description="Run the best checkpoint of any run on INPUT arguments, on --input FILE (one "
        "input per line, or a table's text column; a series file for forecasters), or on "
        "standard input, one input per line. Writes --output FILE.jsonl|.csv or prints.",
    )
    p.add_argument("dir", metavar="RUN", help="run folder written by `rnnkit train TASK`")
    # REMAINDER: inputs may begin with '-' and flags may come before or after them
    p.add_argument("inputs", metavar="INPUT", nargs=argparse.REMAINDER, help="inputs to predict")
    p.add_argument("--input", metavar="FILE", help="file of inputs")
    add_output(p, "--output", OUTPUT_SUFFIXES, "write rows to FILE.jsonl or FILE.csv")
    add_input_settings(p)
    add_decoding_flags(p.add_argument_group("decoding (tasks that write text)"))
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run, late_actions=dict(p._option_string_actions))


def _late_flags(args: argparse.Namespace) -> None:
    """Flags written after the inputs (argparse's REMAINDER keeps them among the inputs): every
    flag of the command, parsed as argparse would have (``--lm RUN`` too, not an input)."""
    actions = args.late_actions
    rest, inputs = list(args.inputs), []
    while rest:
        item = rest.pop(0)
        name, eq, value = item.partition("=")
        action = actions.get(name) if name.startswith("--") else None
        if action is None or isinstance(action, argparse._HelpAction):
            inputs.append(item)
        elif action.nargs == 0:  # --json, --force, --reverse/--no-reverse
            if eq:
                raise RnnkitError(f"argument {name}: ignored explicit argument {value!r}")
            action(None, args, None, name)
        else:
            if not eq:
                if not rest:
                    raise RnnkitError(f"argument {name}: expected one argument")
                value = rest.pop(0)
            try:
                parsed = action.type(value) if action.type else value
            except argparse.ArgumentTypeError as exc:
                raise RnnkitError(f"argument {name}: {exc}") from None
            if action.choices is not None and parsed not in action.choices:
                choices = ", ".join(map(str, action.choices))
                raise RnnkitError(
                    f"argument {name}: invalid choice {value!r} (choose from {choices})"
                )
            setattr(args, action.dest, parsed)
    args.inputs = inputs


def write_rows(rows: list[dict[str, Any]], path: Path) -> None:
    """JSON lines, or CSV with nested values as JSON text, written atomically (the path was
    checked by ``check_outputs`` before the predictions were made)."""
    if path.suffix.lower() == ".jsonl":
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    else:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        for r in rows:
            flat = {
                k: v if isinstance(v, (str, int, float)) else json.dumps(v) for k, v in r.items()
            }
            writer.writerow(flat)
        data = buf.getvalue()
    try:
        atomic_write_bytes(path, data.encode("utf-8"))
    except OSError as exc:
        raise RnnkitError(f"cannot write --output {path}: {exc.strerror}") from None


def stdin_lines() -> list[str]:
    """Non-empty lines of standard input, which must be UTF-8 text."""
    from rnnkit.data.text import decode_text

    text = decode_text(sys.stdin.buffer.read(), "standard input")
    return [line for line in text.splitlines() if line.strip()]


def run(args: argparse.Namespace) -> int:
    from rnnkit.runs.predict import parse_inputs

    _late_flags(args)
    check_outputs(args)  # again: --output and --force may have come after the inputs
    if args.inputs and args.input:
        raise RnnkitError("give inputs as arguments or --input FILE, not both")
    loaded = run_with_inputs(args)
    task = loaded.task
    decoding = decoding_options(args, task)
    if args.input:
        inputs = task.read_inputs(args.input)
    else:
        lines = args.inputs or stdin_lines()
        if not lines:
            raise RnnkitError("no input to predict: pass INPUT arguments, --input FILE or stdin")
        inputs = parse_inputs(task, lines)
    rows = loaded.predict(inputs, **decoding)
    if args.output:
        write_rows(rows, Path(args.output))
        print(f"wrote {len(rows)} predictions to {args.output}")
        return 0
    emit(rows, args.json, "\n".join(task.format_prediction(r) for r in rows))
    return 0
