"""``rnnkit serve RUN [RUN ...]``: serve trained runs over HTTP, with a web page per run."""

from __future__ import annotations

import argparse
import os
from typing import Any

from rnnkit.cli.flags import number
from rnnkit.errors import RnnkitError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve",
        help="serve trained runs: an HTTP API with dynamic batching and a web page",
        description="Serve one or more runs of any task on an HTTP server (FastAPI on uvicorn; "
        "pip install 'rnnkit[serve]'): GET /v1/runs, POST /v1/runs/NAME/predict (the rows "
        "`rnnkit predict` writes), /openapi.json, and a page to try each run at /. A run is "
        "named by its folder's name. Binds the loopback address unless --host says otherwise.",
    )
    p.add_argument("dirs", metavar="RUN", nargs="+", help="run folders written by `rnnkit train`")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=number(int, 0, 65535), default=8000, help="default: 8000")
    p.add_argument(
        "--no-batching",
        dest="batching",
        action="store_false",
        help="answer each request alone (dynamic batching is on by default)",
    )
    p.add_argument(
        "--max-batch",
        type=number(int, 1, 4096),
        default=32,
        metavar="N",
        help="most inputs in one batch (default: 32)",
    )
    p.add_argument(
        "--max-wait-ms",
        type=number(float, 0, 1000, lo_open=True),
        default=5.0,
        metavar="MS",
        help="longest a request waits for a batch to fill (default: 5)",
    )
    p.add_argument(
        "--timeout",
        type=number(float, 0, 3600, lo_open=True),
        default=60.0,
        metavar="S",
        help="seconds a request may take before a 504 (default: 60)",
    )
    p.add_argument(
        "--max-body-mb",
        type=number(float, 0, 4096, lo_open=True),
        default=20.0,
        metavar="MB",
        help="largest request body, uploads included (default: 20)",
    )
    p.add_argument(
        "--max-audio-seconds",
        type=number(float, 0, 3600, lo_open=True),
        default=120.0,
        metavar="S",
        help="longest uploaded clip (default: 120)",
    )
    p.add_argument(
        "--threads",
        type=number(int, 1, 1024),
        default=None,
        metavar="N",
        help="torch threads for the models (default: one fewer than the cores torch would "
        "use, at least 1: the HTTP event loop keeps a core)",
    )
    p.add_argument(
        "--token-env",
        metavar="VAR",
        help="require 'Authorization: Bearer <token>' on /v1, the token read from "
        "the environment variable VAR (not a flag: flags show in `ps`)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from rnnkit.serve.app import serve
        from rnnkit.serve.limits import Limits
    except ImportError as exc:
        raise RnnkitError(
            f"rnnkit serve needs the serve extra ({exc.name} is missing): "
            "pip install 'rnnkit[serve]'"
        ) from None
    token = None
    if args.token_env:
        token = os.environ.get(args.token_env)
        if not token:
            raise RnnkitError(f"--token-env {args.token_env}: that variable is unset or empty")
    limits = Limits(
        max_body_bytes=int(args.max_body_mb * 2**20),
        max_audio_seconds=args.max_audio_seconds,
        timeout_s=args.timeout,
        max_batch=args.max_batch,
        max_wait_ms=args.max_wait_ms,
    )
    serve(args.dirs, args.host, args.port, limits, args.batching, token, args.threads)
    return 0
