"""Tiny trained runs of every task and a live ``rnnkit serve`` on a free loopback port, shared
by the server's tests, its browser test and bench/serve_load.py."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rnnkit.cli.main import main

TINY = ["--hidden-size", "12", "--num-layers", "1", "--eval-every", "5"]


def train_tiny(task: str, folder: Path) -> Path:
    """A run of ``task`` trained for a few steps on data written into ``folder`` (the cases of
    tests/test_task_contract.py); its run folder is ``folder/<task>``."""
    from tests.test_task_contract import CASES

    folder.mkdir(parents=True, exist_ok=True)
    flags, *_ = CASES[task](folder)
    out = folder / task
    argv = ["train", task, *flags, *TINY, "--out", out, "--quiet", "--json"]
    assert main([str(a) for a in argv]) == 0, f"training the tiny {task} run failed"
    return out


@contextmanager
def live_server(app) -> Iterator[str]:
    """``app`` on uvicorn in a thread, on a free port of 127.0.0.1; yields its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
