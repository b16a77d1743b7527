"""Command-line flags: derived from the settings dataclasses, with one-line errors.

``add_settings(parser, cls, section)`` adds one flag per ``setting`` of ``cls`` (``hidden_size``
becomes ``--hidden-size``, plus its aliases), typed and range-checked from the declaration, with
the default in the help; ``section_values(args, section)`` reads them back by setting name.
A bad value is one stderr line and exit code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from typing import Any

from rnnkit.config import field_kind, range_text


def one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make ``parser`` report a bad flag in one stderr line (no usage block), exit code 2."""

    def error(message: str):
        parser.exit(2, f"{parser.prog}: error: {message}\n")

    parser.error = error  # type: ignore[method-assign]
    return parser


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
        if kind is bool:
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
