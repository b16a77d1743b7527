"""Command-line flags: derived from the settings dataclasses, with one-line errors.

``add_settings(parser, cls, section)`` adds one flag per ``setting`` of ``cls`` (``hidden_size``
becomes ``--hidden-size``, plus its aliases), typed and range-checked from the declaration, with
the default in the help; ``section_values(args, section)`` reads them back by setting name.
A bad value is one stderr line and exit code 2. ``add_output`` is the one way a command takes
a file to write (checked by ``check_outputs`` before any work: ``rnnkit.files.new_output``), and
``ShowDefaults`` is the help formatter of every command (each option's default in its help).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from typing import Any

from rnnkit.config import field_kind, range_text
from rnnkit.files import new_output


def one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make ``parser`` report a bad flag in one stderr line (no usage block), exit code 2."""

    def error(message: str):
        parser.exit(2, f"{parser.prog}: error: {message}\n")

    parser.error = error  # type: ignore[method-assign]
    return parser


class ShowDefaults(argparse.HelpFormatter):
    """Help that shows every option's default: `` (default: X)`` is added to the help of an
    option with a value whose help does not already say its default (a help that says it in
    words, ``(default: the run's)``, is kept). An unset default (None) or an off switch is not
    shown: the help says what leaving the option out means."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text.lower()
            or default is None
            or default is argparse.SUPPRESS
            or isinstance(default, bool)
            or not action.option_strings
        ):
            return text
        return f"{text} (default: %(default)s)"


def show_defaults(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make ``parser`` and every sub-command under it show the defaults (``ShowDefaults``)."""
    parser.formatter_class = ShowDefaults
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                show_defaults(sub)
    return parser


def add_output(
    parser: argparse.ArgumentParser, flag: str, suffixes: tuple[str, ...], help_text: str,
    default: str | None = None,
) -> None:  # fmt: skip
    """``flag`` FILE: a file the command writes, ending in one of ``suffixes``, plus the
    command's ``--force`` (added once). ``check_outputs`` applies ``new_output`` to it."""
    dest = flag.lstrip("-").replace("-", "_")
    metavar = "FILE" + (suffixes[0] if len(suffixes) == 1 else "")
    parser.add_argument(flag, dest=dest, metavar=metavar, default=default, help=help_text)
    if "--force" not in parser._option_string_actions:
        parser.add_argument("--force", action="store_true",
                            help="replace files the command writes that already exist")  # fmt: skip
    outputs = dict(parser.get_default("outputs") or {})
    outputs[dest] = (flag, suffixes)
    parser.set_defaults(outputs=outputs)


def check_outputs(args: argparse.Namespace) -> None:
    """Every file flag of ``args`` (``add_output``) checked before the command does any work:
    not a folder, the right suffix, no existing file or symlink unless ``--force``."""
    for dest, (flag, suffixes) in (getattr(args, "outputs", None) or {}).items():
        value = getattr(args, dest, None)
        if value is not None:
            new_output(value, getattr(args, "force", False), flag, suffixes)


def number(kind: type, lo: float | None = None, hi: float | None = None, lo_open: bool = False):
    """An argparse ``type`` for a finite ``kind`` in the range, with a one-line error."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a valid {kind.__name__}: {text!r}") from None
        bad = not math.isfinite(value)
        bad = bad or (lo is not None and (value < lo or (lo_open and value == lo)))
        bad = bad or (hi is not None and value > hi)
        if bad:
            raise argparse.ArgumentTypeError(
                f"{text} is out of range {range_text(lo, hi, lo_open)}"
            )
        return value

    parse.__name__ = kind.__name__
    return parse


positive_int = number(int, 1, 10**9)
nonneg_int = number(int, 0, 2**63 - 1)
positive_float = number(float, 0, 1e9, lo_open=True)
nonneg_float = number(float, 0, 1e9)
probability = number(float, 0, 1, lo_open=True)


def add_settings(
    parser: argparse.ArgumentParser | Any,
    cls: type,
    section: str,
    defaults: dict[str, Any] | None = None,
    extra_help: dict[str, str] | None = None,
) -> None:
    """One flag per command-line setting of ``cls``; values land in ``args`` as
    ``"SECTION.name"`` (read them with ``section_values``)."""
    defaults, extra_help = defaults or {}, extra_help or {}
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if not meta.get("cli", True):
            continue
        kind, _ = field_kind(cls, f.name)
        if f.name in defaults:
            default = defaults[f.name]
        elif f.default is not dataclasses.MISSING:
            default = f.default
        else:
            default = f.default_factory()  # type: ignore[misc]
        help_text = meta["help"] + extra_help.get(f.name, "")
        if kind is bool and default is not None:  # None: the help says who chooses
            help_text += f" (default: {'on' if default else 'off'})"
        elif default is not None:
            help_text += f" (default: {default})"
        add_flag(parser, cls, f.name, f"{section}.{f.name}", default, help_text)


def add_flag(
    parser: argparse.ArgumentParser | Any, cls: type, name: str, dest: str, default: Any,
    help_text: str,
) -> None:  # fmt: skip
    """The flag of setting ``name`` of ``cls``, parsed to the setting's type and range."""
    meta = cls.__dataclass_fields__[name].metadata
    kind, _ = field_kind(cls, name)
    flags = ["--" + name.replace("_", "-"), *meta.get("aliases", ())]
    common = dict(dest=dest, default=default, help=help_text)
    if kind is bool:
        parser.add_argument(*flags, action=argparse.BooleanOptionalAction, **common)
    elif meta.get("choices"):
        parser.add_argument(*flags, choices=meta["choices"], **common)
    elif kind in (int, float):
        parse = number(kind, meta.get("lo"), meta.get("hi"), meta.get("lo_open", False))
        metavar = meta.get("metavar") or ("N" if kind is int else "X")
        parser.add_argument(*flags, type=parse, metavar=metavar, **common)
    else:
        parser.add_argument(*flags, metavar=meta.get("metavar"), **common)


def section_values(args: argparse.Namespace, section: str) -> dict[str, Any]:
    """The settings of ``section`` parsed by ``add_settings``, by setting name."""
    prefix = section + "."
    return {k[len(prefix) :]: v for k, v in vars(args).items() if k.startswith(prefix)}


def emit(result: Any, as_json: bool, text: str) -> None:
    """The one output convention: ``--json`` prints the result as JSON, else ``text``."""
    print(json.dumps(result, indent=2) if as_json else text, flush=True)
