"""Data-parallel training on ``torch.distributed``: launching N processes and asking who we are.

Two ways in, one code path: under ``torchrun`` the environment (``RANK``, ``WORLD_SIZE``,
``MASTER_ADDR``...) is already set and ``init_from_env`` joins the group; with ``--nproc N``,
``launch`` spawns N processes on this machine that set the same variables and do the same.
The backend is NCCL when CUDA is available and gloo otherwise.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from rnnkit.errors import RnnkitError


def rank_world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside distributed training."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def under_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def init_from_env() -> None:
    """Join the process group described by the environment (torchrun or ``launch``)."""
    if dist.is_initialized():
        return
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend=backend)
    threads = max(1, (os.cpu_count() or 1) // dist.get_world_size())
    torch.set_num_threads(threads)  # N processes share the cores instead of fighting for them


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, fn: Callable[..., Any], args: tuple) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
    )
    init_from_env()
    try:
        fn(*args)
        # gloo aborts a rank ("terminate called without an active exception") whose peer
        # tears the group down while it still has traffic in flight; a rank that failed skips
        # this and mp.spawn stops the others
        dist.barrier()
    finally:
        dist.destroy_process_group()


def launch(fn: Callable[..., Any], nproc: int, *args: Any) -> None:
    """Run ``fn(*args)`` in ``nproc`` processes (or here, when 1 or already under torchrun).

    ``fn`` must be picklable (a module-level function). Only rank 0 should write files.
    """
    if nproc < 1 or nproc > 256:
        raise RnnkitError(f"--nproc must be between 1 and 256, got {nproc}")
    if under_torchrun():
        init_from_env()
        fn(*args)
        return
    if nproc == 1:
        fn(*args)
        return
    try:
        mp.spawn(_worker, args=(nproc, _free_port(), fn, args), nprocs=nproc, join=True)
    except mp.ProcessRaisedException as exc:
        last = str(exc).strip().splitlines()[-1]
        raise RnnkitError(f"a training process failed: {last}") from None
