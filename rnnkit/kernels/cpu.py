"""Fused CPU kernels: the contract of ``rnnkit.kernels`` as a C++ extension (``csrc/``).

Per time step only two things run: the products (``h_{t-1} W^T``, and for the LSTM and GRU
also ``x_t U^T``: BLAS calls on raw pointers, MKL's through libtorch, with weights packed once
per sequence) and one vectorised pass over the gate math that reads them, activates the gates
in place in the buffer the backward pass keeps, updates the state and writes the output: no
temporaries, OpenMP over batch rows when a step is large enough to pay for it. Float32
activations use polynomial exp/tanh (about 1 ulp) that the compiler vectorises; float64 uses
libm. Jordan networks stay on the reference kernels.

``low`` (keyword-only, float32 tensors only): ``torch.bfloat16`` or ``torch.float16`` runs every
product of the loop in that dtype on ATen/oneDNN (``csrc/lowp.h``): the mixed-precision "lowp"
path that ``rnnkit.kernels.products`` chooses where the CPU multiplies 16-bit numbers natively;
``None`` (the default) multiplies in float32.

The extension is compiled on first use with ``torch.utils.cpp_extension`` (ninja) into
``$RNNKIT_CACHE_DIR`` or ``~/.cache/rnnkit/kernels/<key>``, where the key hashes the sources,
the torch version and install folder, the Python version and the CPU's instruction-set flags
(the code is built with ``-march=native``, so a cache must never move to another CPU). A file
lock makes concurrent first uses (several DDP ranks) build once.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import torch
from torch import Tensor

from rnnkit.kernels import reference

name = "cpu"

_SOURCES = ("bindings.cpp", "buffers.cpp", "elman.cpp", "lstm.cpp", "gru.cpp", "ops.cpp")
_HEADERS = ("common.h", "fastmath.h", "bf16.h", "lowp.h")
_CFLAGS = [
    "-O3",
    "-march=native",
    "-mprefer-vector-width=512",
    "-fopenmp",
    "-fno-math-errno",
    "-fno-trapping-math",
]
_CACHE_LIMIT_VAR = "RNNKIT_BUFFER_CACHE_MB"
_ext: ModuleType | None = None
_build_lock = threading.Lock()  # threads of one process; the file lock covers processes


def _csrc() -> Path:
    return Path(__file__).with_name("csrc")


def _cpu_flags() -> str:
    """The instruction-set flags of this CPU (what -march=native compiles for)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return f"{platform.machine()} {platform.processor()}"


def build_key() -> str:
    """Hash of everything the compiled library depends on: sources, flags, torch (version and
    install folder), Python, CPU."""
    digest = hashlib.sha256()
    for fname in _SOURCES + _HEADERS:
        digest.update((_csrc() / fname).read_bytes())
    # torch's folder too: each virtual environment's build.ninja names its own include paths,
    # so two environments sharing one folder would rebuild it every time they alternate
    torch_dir = str(Path(torch.__file__).resolve().parent)
    for part in (torch.__version__, torch_dir, sys.version, " ".join(_CFLAGS), _cpu_flags()):
        digest.update(part.encode())
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    root = os.environ.get("RNNKIT_CACHE_DIR")
    if root is None:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(xdg, "rnnkit", "kernels")
    return Path(root) / build_key()


@contextmanager
def _file_lock(path: Path):
    """An exclusive lock across processes (no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # Windows: cpp_extension's own baton still guards the build
        yield
        return
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_built() -> ModuleType:
    """Compile (once per key) and import the extension; raises if that is impossible."""
    global _ext
    if _ext is not None:
        return _ext
    from torch.utils import cpp_extension

    build_dir = cache_dir()
    build_dir.mkdir(parents=True, exist_ok=True)
    with _build_lock, _file_lock(build_dir / "build.lock"):
        if _ext is not None:
            return _ext
        try:
            _ext = _load(cpp_extension, build_dir)
        except Exception as exc:  # a build log is long: keep the line that says what broke
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
            telling = [
                ln
                for ln in lines[
                    1:
                ]  # the first line is torch's "Error building extension" + command
                if re.search(r"error|not found|no such", ln, re.I) and not ln.startswith("[")
            ]
            reason = (telling or lines or [repr(exc)])[0][:300]
            raise RuntimeError(f"building the C++ kernels failed: {reason}") from exc
        limit = os.environ.get(_CACHE_LIMIT_VAR)
        if limit is not None:
            _ext.set_buffer_cache_limit(_megabytes(limit))
    return _ext


def _megabytes(text: str) -> int:
    """Bytes from $RNNKIT_BUFFER_CACHE_MB's text; a clear error for anything but a number >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ValueError(f"{_CACHE_LIMIT_VAR} must be a number of megabytes >= 0, got {text!r}")
    return int(value * 2**20)


def _sources_in(build_dir: Path) -> list[str]:
    """The sources, copied into the build folder: ninja keys its build on the source paths, so
    compiling from the cache's own copy lets every checkout of the same sources (same key)
    reuse one build instead of rebuilding in turn."""
    src = build_dir / "src"
    src.mkdir(exist_ok=True)
    for fname in _SOURCES + _HEADERS:
        target = src / fname
        data = (_csrc() / fname).read_bytes()
        if not target.is_file() or target.read_bytes() != data:
            tmp = src / f".{fname}.tmp{os.getpid()}"
            tmp.write_bytes(data)
            os.replace(tmp, target)
    return [str(src / f) for f in _SOURCES]


def _load(cpp_extension: ModuleType, build_dir: Path) -> ModuleType:
    return cpp_extension.load(
        name=f"rnnkit_cpu_{build_dir.name}",
        sources=_sources_in(build_dir),
        extra_cflags=_CFLAGS,
        extra_ldflags=["-fopenmp"],
        build_directory=str(build_dir),
        verbose=False,
    )


# The contract functions (shapes and meaning: the docstring of ``rnnkit.kernels``).
# Optional tensors are ``None``; the tuples hold ``None`` where the contract says so.

Opt = Tensor | None
_LOW_CODES = {None: 0, torch.bfloat16: 1, torch.float16: 2}  # csrc/lowp.h: low_dtype


def _code(low: torch.dtype | None) -> int:
    if low not in _LOW_CODES:
        raise ValueError(f"low must be None, torch.bfloat16 or torch.float16, got {low}")
    return _LOW_CODES[low]


mm = torch.mm  # the products around the loop: float32, as the operands hold them


def elman_forward(
    gx: Tensor, w_hh: Tensor, h0: Tensor, batch_sizes: Opt, reverse: bool, relu: bool, save: bool,
    *, low: torch.dtype | None = None,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    return ensure_built().elman_forward(gx, w_hh, h0, batch_sizes, reverse, relu, save, _code(low))


def elman_backward(
    dy: Tensor, dhT: Tensor, y: Tensor, h0: Tensor, w_hh: Tensor, batch_sizes: Opt,
    reverse: bool, relu: bool, *, low: torch.dtype | None = None,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    return ensure_built().elman_backward(
        dy, dhT, y, h0, w_hh, batch_sizes, reverse, relu, _code(low)
    )


def lstm_forward(
    x: Tensor, w_ih: Tensor, w_hh: Tensor, bias: Opt, w_hr: Opt, h0: Tensor, c0: Tensor,
    batch_sizes: Opt, reverse: bool, save: bool, *, low: torch.dtype | None = None,
) -> tuple[Tensor, Tensor, Tensor, Opt, Opt]:  # fmt: skip
    return ensure_built().lstm_forward(
        x, w_ih, w_hh, bias, w_hr, h0, c0, batch_sizes, reverse, save, _code(low)
    )


def lstm_backward(
    dy: Tensor, dhT: Tensor, dcT: Tensor, gates: Tensor, c: Tensor, c0: Tensor, w_hh: Tensor,
    w_hr: Opt, batch_sizes: Opt, reverse: bool, *, low: torch.dtype | None = None,
) -> tuple[Tensor, Tensor, Tensor, Opt]:  # fmt: skip
    return ensure_built().lstm_backward(
        dy, dhT, dcT, gates, c, c0, w_hh, w_hr, batch_sizes, reverse, _code(low)
    )


def lstm_step(
    x: Tensor, w_ih: Tensor, w_hh: Tensor, bias: Opt, w_hr: Opt, h: Tensor, c: Tensor
) -> tuple[Tensor, Tensor]:
    """One LSTM step without autograd: x (B,I), h (B,P), c (B,H) -> (h', c'); bias (4H) | None
    is b_ih + b_hh. Both products and the gate pass in one call (the generation path)."""
    return ensure_built().lstm_step(x, w_ih, w_hh, bias, w_hr, h, c)


def lstm_step_bf16(
    x: Tensor, w_ih: Tensor, w_hh: Tensor, bias: Opt, w_hr: Opt, h: Tensor, c: Tensor
) -> tuple[Tensor, Tensor]:
    """``lstm_step`` with bfloat16 weights and float32 x, h, c, bias: the products read the
    16-bit weights and accumulate in float32 (half the bytes of a memory-bound step)."""
    return ensure_built().lstm_step_bf16(x, w_ih, w_hh, bias, w_hr, h, c)


def gru_forward(
    x: Tensor, w_ih: Tensor, b_ih: Opt, w_hh: Tensor, b_hh: Opt, h0: Tensor, batch_sizes: Opt,
    reverse: bool, save: bool, *, low: torch.dtype | None = None,
) -> tuple[Tensor, Tensor, Opt, Opt]:  # fmt: skip
    return ensure_built().gru_forward(
        x, w_ih, b_ih, w_hh, b_hh, h0, batch_sizes, reverse, save, _code(low)
    )


def gru_backward(
    dy: Tensor, dhT: Tensor, y: Tensor, h0: Tensor, gates: Tensor, ghn: Tensor, w_hh: Tensor,
    batch_sizes: Opt, reverse: bool, *, low: torch.dtype | None = None,
) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    return ensure_built().gru_backward(
        dy, dhT, y, h0, gates, ghn, w_hh, batch_sizes, reverse, _code(low)
    )


def empty(shape: tuple[int, ...], like: Tensor) -> Tensor:
    """An uninitialised buffer with like's dtype, from the buffer cache when 256 KB or more."""
    return ensure_built().empty(list(shape), like)


def release_buffers() -> int:
    """Free the cached (T, B, ·) buffers that no tensor holds any more; returns the bytes freed.

    The kernels keep their large outputs and saved activations (256 KB and up) in a cache
    (``csrc/buffers.cpp``) and hand a buffer out again once nothing else holds it, so a
    training loop does not page-fault them in at every step. The cache holds at most 32
    buffers and 2 GiB (``$RNNKIT_BUFFER_CACHE_MB`` or ``set_buffer_cache_limit``); call this
    to return the memory when a model is done.
    """
    return _ext.release_buffers() if _ext is not None else 0


def set_buffer_cache_limit(nbytes: int) -> int:
    """Cap the bytes the buffer cache holds (0 turns it off); returns the previous cap."""
    if nbytes < 0:
        raise ValueError(f"the buffer cache limit must be >= 0 bytes, got {nbytes}")
    return ensure_built().set_buffer_cache_limit(nbytes)


jordan_forward = reference.jordan_forward
jordan_backward = reference.jordan_backward
