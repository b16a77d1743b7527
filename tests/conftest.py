"""Shared fixtures."""

from __future__ import annotations

from functools import cache

import pytest


@cache
def _cpu_kernel_unavailable() -> str | None:
    """Why the C++ 'cpu' kernel cannot run here, or None when it can."""
    try:
        from rnnkit.kernels import cpu

        cpu.ensure_built()
    except Exception as exc:  # not written yet, or fails to build: both mean "skip"
        return f"rnnkit.kernels.cpu unavailable: {type(exc).__name__}: {exc}".splitlines()[0]
    return None


@pytest.fixture(params=["reference", "cpu"])
def kernel(request) -> str:
    """Each kernel by name; 'cpu' is skipped, with the reason, when it cannot be built."""
    if request.param == "cpu":
        reason = _cpu_kernel_unavailable()
        if reason:
            pytest.skip(reason)
    return request.param
