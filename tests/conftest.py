"""Shared fixtures, and the one rule for the C++ kernels' tests: where a C++ compiler exists
the kernels must build, so a compile error in csrc/ fails the suite; only a machine without a
compiler skips them, and says so."""

from __future__ import annotations

import shutil
from functools import cache

import pytest


def compiler_missing() -> str | None:
    """Why no C++ compiler can be used here, or None when one is on the PATH."""
    if shutil.which("c++") is None and shutil.which("g++") is None:
        return "no C++ compiler on this machine: the fused kernels cannot be built"
    return None


@cache
def cpu_build_error() -> str | None:
    """The reason the C++ kernels failed to build, or None when they built."""
    from rnnkit.kernels import cpu

    try:
        cpu.ensure_built()
    except Exception as exc:  # reported by require_cpu_kernel as a failure
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None


def require_cpu_kernel() -> None:
    """Skip (no compiler, with the reason printed) or fail (a compiler, but the build broke)."""
    missing = compiler_missing()
    if missing:
        pytest.skip(missing)
    error = cpu_build_error()
    if error:
        pytest.fail(f"the C++ kernels do not build: {error}")


@pytest.fixture(params=["reference", "cpu"])
def kernel(request) -> str:
    """Each kernel by name; 'cpu' is skipped only where no compiler exists."""
    if request.param == "cpu":
        require_cpu_kernel()
    return request.param


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """``tiny_run(task)``: the run folder of a tiny trained run of ``task``
    (``serve_helpers.train_tiny``), trained once per session and shared by the tests that only
    read it (the server's and the browser's): about a second or two a task."""
    from tests.serve_helpers import train_tiny

    root = tmp_path_factory.mktemp("tiny_runs")
    folders: dict = {}

    def get(task: str):
        if task not in folders:
            folders[task] = train_tiny(task, root / task)
        return folders[task]

    return get
