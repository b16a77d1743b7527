"""Settings as dataclasses: every setting is spelled once, with its default, range and help.

A task's settings, the Trainer's and the models' are ``Settings`` dataclasses whose fields are
declared with ``setting``::

    @dataclass
    class ClassifyConfig(Settings):
        hidden_size: int = setting(128, "hidden units per layer", lo=1, hi=16384)
        cell: str = setting("lstm", "recurrent cell", choices=("lstm", "gru", "rnn"))

From that one declaration come the default, ``validate()`` (a ``RnnkitError`` that names the
field and its allowed range), ``to_dict``/``from_dict`` (JSON round trip; unknown names and
wrong types refused) and the command-line flag ``--hidden-size`` (``rnnkit.cli.flags``). Errors
name fields, not flags, so a Python user and a command-line user read the same words.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from typing import Any, TypeVar

from rnnkit.errors import RnnkitError

S = TypeVar("S", bound="Settings")


def setting(
    default: Any,
    help: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    choices: tuple | None = None,
    aliases: tuple[str, ...] = (),
    cli: bool = True,
    metavar: str | None = None,
) -> Any:
    """A dataclass field with what validation and the command line need to know about it.

    ``lo``/``hi`` bound a number (``lo_open``: strictly above ``lo``); ``choices`` lists the
    allowed values; ``aliases`` are extra flag spellings kept for old command lines; ``cli=False``
    keeps a setting out of the command line (set by the task, not the user).
    """
    meta = dict(
        help=help, lo=lo, hi=hi, lo_open=lo_open, choices=choices, aliases=aliases, cli=cli,
        metavar=metavar,
    )  # fmt: skip
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def range_text(lo: float | None, hi: float | None, lo_open: bool = False) -> str:
    left = "(" if lo_open else "["
    return f"{left}{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'}]"


def check_value(name: str, value: Any, meta: dict, kind: type, optional: bool) -> None:
    """Raise RnnkitError unless ``value`` fits field ``name``'s type, range and choices."""
    if value is None:
        if optional:
            return
        raise RnnkitError(f"{name} must be set")
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif kind is str:
        ok = isinstance(value, str)
    else:
        ok = True
    if not ok:
        raise RnnkitError(f"{name} must be {kind.__name__}, got {value!r}")
    if meta.get("choices") is not None and value not in meta["choices"]:
        raise RnnkitError(
            f"{name} must be one of {', '.join(map(str, meta['choices']))}, got {value!r}"
        )
    lo, hi = meta.get("lo"), meta.get("hi")
    if kind in (int, float) and (lo is not None or hi is not None):
        bad = not math.isfinite(value)
        bad = bad or (
            lo is not None and (value < lo or (bool(meta.get("lo_open")) and value == lo))
        )
        bad = bad or (hi is not None and value > hi)
        if bad:
            span = range_text(lo, hi, meta.get("lo_open", False))
            raise RnnkitError(f"{name} must be in {span}, got {value!r}")


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    """A settings class's resolved annotations, once per class: resolving them evaluates every
    field's annotation string, and doing that for each field of each class took half a second
    of the command line's start (998 calls)."""
    return typing.get_type_hints(cls)


def field_kind(cls: type, name: str) -> tuple[type, bool]:
    """(base type, whether None is allowed) of field ``name``: ``int | None`` -> (int, True)."""
    hint = _type_hints(cls)[name]
    args = typing.get_args(hint)
    optional = type(None) in args
    if optional:
        hint = next(a for a in args if a is not type(None))
    origin = typing.get_origin(hint)
    return (origin or hint), optional


@dataclasses.dataclass
class Settings:
    """Base of every settings dataclass; see the module docstring."""

    def validate(self: S) -> S:
        for f in dataclasses.fields(self):
            kind, optional = field_kind(type(self), f.name)
            check_value(f.name, getattr(self, f.name), dict(f.metadata), kind, optional)
        self.check()
        return self

    def check(self) -> None:
        """Rules across fields (override); single-field rules come from the declarations."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls: type[S], d: dict[str, Any]) -> S:
        """Settings from ``d``; unknown names and bad values raise RnnkitError."""
        if not isinstance(d, dict):
            raise RnnkitError(f"{cls.__name__} must be a mapping, got {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise RnnkitError(f"unknown {cls.__name__} setting(s): {', '.join(unknown)}")
        try:
            made = cls(**d)
        except TypeError as exc:  # a required field is missing
            raise RnnkitError(f"{cls.__name__}: {exc}") from None
        return made.validate()

    def replace(self: S, **changes: Any) -> S:
        return type(self).from_dict({**self.to_dict(), **changes})
