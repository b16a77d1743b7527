"""What the cells' custom operators share.

Each cell registers its time loop as operators in the ``rnnkit`` namespace with
``torch.library.custom_op``: a forward op, a backward op, a fake implementation of each
(output shapes from input shapes, nothing computed) and the autograd formula joining them
(``register_autograd``). Dynamo, AOTAutograd and ``torch.export`` then see one operator per
layer and direction, e.g. ``torch.ops.rnnkit.lstm``, instead of a Python autograd Function
calling a C++ extension they cannot look into; eager mode runs the same kernels as before.

A custom operator's outputs are all tensors, none aliasing an input or another output. Where
a kernel has nothing to return (the saved activations of an inference call, a gradient
nobody asked for) the op returns a 0-element tensor, ``absent``; the Python side turns it
back into ``None`` from the same flags that made it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import ModuleType
from typing import Any

import torch
from torch import Tensor
from torch._library.autograd import make_autograd_impl
from torch._library.custom_ops import CustomOpDef
from torch.utils._python_dispatch import is_in_torch_dispatch_mode

from rnnkit.kernels import get_kernel, products

NAMESPACE = "rnnkit"


def kernel_name(kernel: str | ModuleType | None, x: Tensor | None = None) -> str | None:
    """The name an op takes for ``kernel``: a kernel module's own name, a name, or None
    (the op then picks the default for its tensors' device when it runs).

    Given ``x``, inside ``products.low_products`` with the lowp path (a mixed-precision layer
    call, ``rnnkit.nn.precision.mixed_compute``): the name of the kernel ``get_kernel`` hands
    out there, e.g. ``cpu+bf16``. The op and its backward op resolve the name again when they
    run, and the backward runs after the layer call has left that context, so the 16-bit
    variant has to travel in the name. Not while compiling: a compiled graph keeps the name
    it was traced with, and the context is a Python-side switch Dynamo need not trace.
    """
    name = kernel.name if isinstance(kernel, ModuleType) else kernel
    if x is None or torch.compiler.is_compiling() or products.current() is None:
        return name
    return get_kernel(name, x.device.type).name


_PLAIN = (Tensor, torch.nn.Parameter)


def run_directly(*tensors: Tensor | None) -> bool:
    """Whether a call that autograd need not record may run an op's implementation as a
    plain function instead of the op: about 20 us less a call (the dispatcher's trip through
    torch.library's Python layers), most of a one-token step's time.

    Only in plain eager mode: not while Dynamo or ``torch.export`` traces (``is_compiling``),
    not under any dispatch mode (FakeTensorMode, make_fx, FlopCounterMode: they see the op),
    and only on plain tensors of a real device (not fake, meta or subclassed), so every
    tracer and the meta-device size check still meet the op and its fake implementation.
    """
    if torch.compiler.is_compiling() or is_in_torch_dispatch_mode():
        return False
    return all(t is None or (type(t) in _PLAIN and not t.is_meta) for t in tensors)


# Libraries holding the AutogradCPU kernels of ``dispatch_directly``: a registration lasts as
# long as its Library object.
_DIRECT: list[torch.library.Library] = []


def dispatch_directly(op: CustomOpDef) -> None:
    """Give ``op`` an AutogradCPU kernel that runs its implementation as a plain function
    when autograd has nothing to record, and takes ``custom_op``'s own path otherwise.

    The path ``custom_op`` registers goes through four Python layers before the
    implementation (its Autograd kernel, a redispatch, its CPU wrapper with an output
    aliasing check, a Dynamo-disable wrapper) and two back. A compiled graph calls the op
    through the dispatcher every time, with autograd off (AOTAutograd's forward and backward
    graphs run without recording), so compiled paid those layers on every call where eager
    inference skips them (``run_directly``), with the caches cold from the layer's own work:
    about half of what made small Elman layers slower compiled than eager (issue 34).

    The shortcut needs plain tensors outside every tracer, as ``run_directly`` checks, and no
    torch.func transform; anything else (fake tensors, export, opcheck's modes, a gradient
    to record) meets the op's registered autograd formula as before.
    """
    # torch internals (torch 2.13): a rename fails at import, and tests/test_compile.py checks
    # that compiled graphs reach the implementation through this kernel.
    impl = op._init_fn  # the function custom_op was given
    through_op = make_autograd_impl(op._opoverload, op)  # what custom_op registers
    library = torch.library.Library(NAMESPACE, "IMPL")
    _DIRECT.append(library)

    def autograd_cpu(keyset, *args, **kwargs):
        tensors = [a for a in args if isinstance(a, Tensor)]
        records = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
        if (
            not records
            and not torch._C._are_functorch_transforms_active()
            and run_directly(*tensors)
        ):
            with torch._C._AutoDispatchBelowAutograd():  # as the op's own path runs it
                return impl(*args, **kwargs)
        return through_op(keyset, *args, **kwargs)

    library.impl(op._name, autograd_cpu, "AutogradCPU", with_keyset=True)


def registered_cpu_ops(kernel: str | None, x: Tensor) -> bool:
    """Whether a layer call may call the operators the C++ kernels register with the
    dispatcher themselves (``csrc/ops.cpp``: ``rnnkit::elman_infer``, ``lstm_infer``,
    ``gru_infer``, ``lstm_step_infer`` for calls autograd need not record, and
    ``elman_train_backward`` behind ``rnnkit.cells.elman.ElmanTraining``) instead of the
    ``rnnkit::`` ops above.

    Only while torch.compile traces (not ``torch.export``: an exported program and its ONNX
    translation keep the ops above), on float CPU tensors outside autocast, and only when the
    kernel the call would run is the ``cpu`` kernel itself, decided once at trace time as
    ``kernel_name`` does. A compiled graph then calls C++ directly, where the ops above take
    the dispatcher's trip through Python on every call (about 50 us, and more on long calls):
    what made small layers slower compiled than eager (issue 34).
    """
    return (
        torch.compiler.is_compiling()
        and not torch.compiler.is_exporting()
        and x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
        and not torch.is_autocast_enabled("cpu")
        and _cpu_operators_ready(kernel)
    )


def _constant_when_traced(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``torch.compiler.assume_constant_result`` without its import of ``torch._dynamo``,
    which took 2 of the 5 seconds that ``import rnnkit`` took (AMD EPYC Zen 3) in every
    process, most of them never compiling anything: the decorator only sets this mark on the
    function, which Dynamo reads when it traces a call (``tests/test_compile.py`` checks that
    the mark is still all the decorator sets)."""
    fn._dynamo_marked_constant = True  # type: ignore[attr-defined]
    return fn


@_constant_when_traced
def _cpu_operators_ready(kernel: str | None) -> bool:
    """Whether ``kernel`` (a name, or None for the default) resolves to the plain ``cpu``
    kernel, whose extension (once loaded) defines the operators of ``csrc/ops.cpp``;
    registers their fake implementations the first time."""
    try:
        if get_kernel(kernel, "cpu").name != "cpu":
            return False
    except (RuntimeError, ValueError):  # asked for a kernel that cannot load: the ops above say so
        return False
    _register_inference_fakes()
    return True


@functools.cache  # once: the operators exist from the extension's load on
def _register_inference_fakes() -> None:
    @torch.library.register_fake(op_name("elman_infer"))
    def _(x, w_ih, w_hh, b_ih, b_hh, h0, batch_sizes, reverse, relu):
        T, B, _ = x.shape
        H = w_hh.shape[0]
        return x.new_empty(T, B, H), x.new_empty(B, H)  # y (T, B, H), hT (B, H)

    @torch.library.register_fake(op_name("lstm_infer"))
    def _(x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0, batch_sizes, reverse):
        T, B, _ = x.shape
        P = h0.shape[1]
        # y (T, B, P), hT (B, P), cT (B, H)
        return x.new_empty(T, B, P), x.new_empty(h0.shape), x.new_empty(c0.shape)

    @torch.library.register_fake(op_name("gru_infer"))
    def _(x, w_ih, w_hh, b_ih, b_hh, h0, batch_sizes, reverse):
        T, B, _ = x.shape
        return x.new_empty(T, B, h0.shape[1]), x.new_empty(h0.shape)  # y (T, B, H), hT (B, H)

    @torch.library.register_fake(op_name("elman_train_backward"))
    def _(dy, dhT, x, w_ih, w_hh, h0, y, reverse, relu, need_x, need_w_ih, need_w_hh, need_b):
        shapes = (x, w_ih, w_hh, x.new_empty(w_hh.shape[0]))
        need = (need_x, need_w_ih, need_w_hh, need_b)
        # dx (T, B, I), dw_ih (H, I), dw_hh (H, H), db (H,): absent where not needed; dh0 (B, H)
        return (*(fake(t, n, x) for t, n in zip(shapes, need, strict=True)), x.new_empty(h0.shape))

    @torch.library.register_fake(op_name("lstm_step_infer"))
    def _(x, w_ih, w_hh, b_ih, b_hh, w_hr, h, c):
        return h.new_empty(h.shape), c.new_empty(c.shape)  # h' (B, P), c' (B, H)


def check_rows(x: Tensor, batch_sizes: Tensor | None) -> None:
    """A packed batch's first step must fit in x's B rows (the C++ kernels index by it)."""
    if batch_sizes is not None and batch_sizes.numel() and int(batch_sizes[0]) > x.shape[1]:
        raise RuntimeError(
            f"batch_sizes[0] is {int(batch_sizes[0])} but the batch has {x.shape[1]} sequences"
        )


def absent(like: Tensor) -> Tensor:
    """The 0-element tensor an op returns in place of a tensor it did not compute."""
    return like.new_empty(0)


def given(t: Tensor | None, wanted: bool, like: Tensor) -> Tensor:
    """``t`` if it was ``wanted`` (a fresh tensor: an op's output), else ``absent``."""
    return t if wanted and t is not None else absent(like)


def fake(shape_like: Tensor | None, wanted: bool, like: Tensor) -> Tensor:
    """A fake implementation's output: an empty tensor shaped like ``shape_like``, or the
    0-element stand-in when it is not ``wanted``."""
    if not wanted or shape_like is None:
        return absent(like)
    return like.new_empty(shape_like.shape)


def input_grads(need: tuple[bool, ...], *grads: Tensor | None) -> tuple[Tensor | None, ...]:
    """What an op's autograd formula returns: one gradient per input of the op, in order,
    None where ``need`` (``ctx.needs_input_grad``) says it is not wanted and for the inputs
    past ``grads`` (flags, lengths: never differentiable)."""
    padded = grads + (None,) * (len(need) - len(grads))
    return tuple(g if n else None for g, n in zip(padded, need, strict=True))


def op_name(name: str) -> str:
    return f"{NAMESPACE}::{name}"
