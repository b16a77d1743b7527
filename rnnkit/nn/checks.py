"""Bad arguments and inputs raise torch.nn's error type, which is also an ``RnnkitError``.

torch.nn raises ``ValueError``, ``TypeError`` or ``RuntimeError`` for bad arguments; code written
for torch.nn catches those. The command line catches ``RnnkitError``. The classes below are
both, so a drop-in layer satisfies both callers with the very same message.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from rnnkit.errors import RnnkitError


class LayerValueError(RnnkitError, ValueError):
    """A bad argument value (torch.nn raises ValueError here)."""


class LayerTypeError(RnnkitError, TypeError):
    """A bad argument type (torch.nn raises TypeError here)."""


class LayerRuntimeError(RnnkitError, RuntimeError):
    """A bad input shape or dtype (torch.nn raises RuntimeError here)."""


NOT_SCRIPTABLE = (
    "rnnkit layers cannot be compiled by TorchScript (torch.jit.script): their time loop is a "
    "custom operator with a Python implementation. Use torch.compile(model) or "
    "torch.export.export(model, args) instead, or torch.nn's layers where TorchScript is required"
)
NOT_TRACEABLE = (
    "rnnkit layers cannot be traced by torch.jit.trace (the trace would keep this one input's "
    "control flow around operators TorchScript cannot run); use torch.compile(model) or "
    "torch.export.export(model, args) instead"
)
NOT_ONNX_LEGACY = (
    "the legacy ONNX exporter (torch.onnx.export with dynamo=False) cannot export rnnkit "
    "layers: it would bake this input's outputs in as constants. Use torch.export.export(model, "
    "args), or for a trained run `rnnkit export RUN --format onnx`"
)


class NotScriptable:
    """Mixin: ``torch.jit.script`` asks a module to prepare itself first; refuse clearly
    instead of failing deep inside the TorchScript compiler."""

    def __prepare_scriptable__(self):
        raise LayerRuntimeError(NOT_SCRIPTABLE)


def refuse_jit_tracing() -> None:
    """Refuse ``torch.jit.trace`` and the legacy (TorchScript-based) ONNX exporter in one line.

    Both trace by running the module once: the trace would record this input's Python control
    flow (its length, batch size, packing), and the legacy ONNX exporter, finding no ONNX form
    for rnnkit's operators, wrote their outputs as constants, a model that ignores its input.
    ``torch.jit.is_tracing`` is one C call in eager mode and a constant under Dynamo.
    """
    if not torch.jit.is_tracing():
        return
    if torch.onnx.is_in_onnx_export():
        raise LayerRuntimeError(NOT_ONNX_LEGACY)
    raise LayerRuntimeError(NOT_TRACEABLE)


_AS_USER_ERROR = {
    ValueError: LayerValueError,
    TypeError: LayerTypeError,
    RuntimeError: LayerRuntimeError,
}


@contextmanager
def user_errors() -> Iterator[None]:
    """Re-raise torch.nn's argument checks (run inside) as the matching ``Layer*Error``.

    Wrap only argument and shape checking with it, never the computation, so that a bug
    inside rnnkit keeps its own type and traceback.
    """
    try:
        yield
    except RnnkitError:
        raise
    except (ValueError, TypeError, RuntimeError) as exc:
        user_type = _AS_USER_ERROR.get(type(exc))
        if user_type is None:  # a subclass such as NotImplementedError: not a checked argument
            raise
        raise user_type(str(exc)) from None
