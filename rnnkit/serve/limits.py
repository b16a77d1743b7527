"""What one request may ask of the server, and the check of the optional bearer token."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from rnnkit.errors import RnnkitError


@dataclass(frozen=True)
class Limits:
    """Caps on a request; a request over one is refused with a 4xx JSON error naming it."""

    max_body_bytes: int = 20 * 2**20  # a whole request, uploads included
    max_inputs: int = 64  # inputs (texts, files) in one request
    max_input_chars: int = 20_000  # one text input
    max_audio_seconds: float = 120.0  # one uploaded clip (the CLI reads up to an hour)
    max_image_pixels: int = 4096 * 4096  # one uploaded image, width x height
    timeout_s: float = 60.0  # waiting for the model, queueing included: 504 after it
    max_batch: int = 32  # inputs gathered into one call to the model
    max_wait_ms: float = 5.0  # how long the first request of a batch waits for others
    max_queue: int = 1024  # requests waiting for one run: 503 beyond it

    def validate(self) -> None:
        for name, value in vars(self).items():
            if not value > 0:
                raise RnnkitError(f"serve limit {name} must be above 0, got {value}")


class BodyTooLarge(Exception):
    """The request body passed ``Limits.max_body_bytes`` while it was being read."""


class BodyLimit:
    """ASGI middleware: a request whose body is longer than ``limit`` bytes, by its
    Content-Length or while it streams in (chunked), is answered 413 before it is parsed."""

    def __init__(self, app: Any, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await too_large(send, self.limit)
            return
        seen = 0
        started = False

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge
            return message

        async def sending(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, sending)
        except BodyTooLarge:
            if not started:
                await too_large(send, self.limit)


async def too_large(send: Any, limit: int) -> None:
    import json

    body = json.dumps({"error": f"the request body is over {limit} bytes", "status": 413})
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json")]})  # fmt: skip
    await send({"type": "http.response.body", "body": body.encode()})


class BearerToken:
    """ASGI middleware: a request under ``/v1`` without ``Authorization: Bearer <token>`` is
    answered 401 (plain ASGI: cheaper per request than a Starlette ``BaseHTTPMiddleware``)."""

    def __init__(self, app: Any, token: str):
        self.app, self.token = app, token

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1"):
            header = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not token_ok(header.decode("latin-1"), self.token):
                import json

                body = {"error": "this server needs 'Authorization: Bearer <token>'", "status": 401}
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"www-authenticate", b"Bearer")]})  # fmt: skip
                await send({"type": "http.response.body", "body": json.dumps(body).encode()})
                return
        await self.app(scope, receive, send)


def token_ok(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <token>`` (compared in constant
    time, so the answer's timing tells nothing about the token)."""
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer ") :].encode(), token.encode())
