"""The FastAPI application over served runs, and ``serve``: it on uvicorn.

Endpoints: ``GET /`` (the web page), ``GET /v1/runs`` (every served run: name, task, what it
takes and returns, its decoding options), ``GET /v1/runs/NAME`` (one of them), ``POST
/v1/runs/NAME/predict`` (JSON ``{"inputs": [...], "beam": 4, ...}``, or multipart/form-data
with files in ``files`` and the options as fields, for images and audio; answers ``{"run":
NAME, "rows": [...]}``, the rows ``rnnkit predict --output x.jsonl`` writes), ``POST
/v1/runs/NAME/compose`` (a music run's tunes as ``rnnkit compose`` draws them, with notation
and MIDI), ``GET /healthz`` and ``GET /openapi.json``. Every error is JSON ``{"error": "...",
"status": N}``: 4xx for a bad request, 504 for one over its time, 500 (without a traceback)
for a bug.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException

from rnnkit.errors import RnnkitError
from rnnkit.serve.batching import Batcher, QueueFull
from rnnkit.serve.limits import BearerToken, BodyLimit, BodyTooLarge, Limits
from rnnkit.serve.served import ServedRun, UploadFolder, unfold

log = logging.getLogger("rnnkit.serve")


class PredictJSON(BaseModel):
    """The JSON body of a prediction: the inputs and the task's decoding options."""

    model_config = ConfigDict(extra="forbid", strict=True)
    inputs: list[str | list[float]] = Field(
        min_length=1, description="texts (a series: numbers, or a text of numbers)"
    )
    beam: int | None = Field(None, description="beam width, 1: greedy")
    temperature: float | None = Field(None, description="sample above 0")
    top_p: float | None = Field(None, description="nucleus of the sampling")
    seed: int | None = Field(None, description="seed of the sampling")


class ComposeJSON(BaseModel):
    """What ``POST /v1/runs/NAME/compose`` takes: ``rnnkit compose``'s settings."""

    model_config = ConfigDict(extra="forbid", strict=True)
    n: int = Field(1, ge=1, le=16, description="how many tunes")
    meter: str | None = Field(None, max_length=20, description="e.g. 6/8 (default: drawn)")
    key: str | None = Field(None, max_length=20, description="e.g. Dmaj, Ador (needs meter)")
    temperature: float = Field(1.0, ge=0, le=100, description="0: greedy")
    seed: int | None = Field(None, ge=0, le=2**63 - 1, description="default: drawn, answered")
    rules: bool = Field(True, description="draw with the bar rules (docs/music.md)")


DECODING_FIELDS = ("beam", "temperature", "top_p", "seed")
PREDICT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": PredictJSON.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        **{n: {"type": "number"} for n in DECODING_FIELDS},
                    },
                }  # fmt: skip
            },
        },
    }
}


class JSONRows(Response):
    """JSON as ``rnnkit predict`` writes it (``json.dumps``, UTF-8 kept)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False).encode("utf-8")


class Refused(Exception):
    """A request answered with ``status`` (4xx, or 503/504) and a one-line ``message``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def error(status: int, message: str) -> JSONRows:
    return JSONRows({"error": message, "status": status}, status_code=status)


def create_app(
    runs: list[ServedRun],
    limits: Limits | None = None,
    batching: bool = True,
    token: str | None = None,
) -> FastAPI:
    """The application serving ``runs`` (names unique) under ``limits``; with ``token``, every
    ``/v1`` request must carry ``Authorization: Bearer <token>``."""
    limits = limits or Limits()
    limits.validate()
    by_name: dict[str, ServedRun] = {}
    for r in runs:
        if r.name in by_name:
            raise RnnkitError(f"two served runs are named {r.name!r}; rename a folder")
        by_name[r.name] = r
    batchers = {
        name: Batcher(r.predict, batching, limits.max_batch, limits.max_wait_ms / 1000,
                      limits.max_queue)
        for name, r in by_name.items()
    }  # fmt: skip

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        for b in batchers.values():
            b.close()

    app = FastAPI(
        lifespan=lifespan,
        title="rnnkit serve",
        description="Predictions of trained rnnkit runs; the rows `rnnkit predict` writes.",
        docs_url=None,  # the Swagger page loads its scripts from a CDN; the schema is enough
        redoc_url=None,
        default_response_class=JSONRows,
    )
    app.add_middleware(BodyLimit, limit=limits.max_body_bytes)
    if token:
        app.add_middleware(BearerToken, token=token)  # outermost: checked before the body
    app.state.batchers = batchers

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> Response:
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> Response:
        return error(422, validation_text(exc.errors()))

    @app.exception_handler(Refused)
    async def refused(_: Request, exc: Refused) -> Response:
        return error(exc.status, exc.message)

    @app.exception_handler(RnnkitError)
    async def bad_input(_: Request, exc: RnnkitError) -> Response:
        return error(400, str(exc))

    @app.exception_handler(BodyTooLarge)
    async def too_large(_: Request, exc: BodyTooLarge) -> Response:
        return error(413, f"the request body is over {limits.max_body_bytes} bytes")

    @app.exception_handler(Exception)
    async def bug(_: Request, exc: Exception) -> Response:
        log.exception("an error inside the server")
        return error(500, f"internal error ({type(exc).__name__}); the server log has it")

    def served(name: str) -> ServedRun:
        if name not in by_name:  # only the served runs: a name never reaches the disk
            raise HTTPException(404, f"no served run is named {name[:80]!r}")
        return by_name[name]

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        html = resources.files("rnnkit.serve").joinpath("page.html").read_text("utf-8")
        return HTMLResponse(html)

    @app.get("/healthz", summary="whether the server is up")
    async def healthz() -> dict[str, Any]:
        import torch

        return {"ok": True, "runs": len(by_name), "threads": torch.get_num_threads()}

    @app.get("/v1/stats", summary="per run: calls to its model, the inputs they held and "
             "the seconds (wall, and CPU of the model's thread) they took")  # fmt: skip
    async def stats() -> dict[str, Any]:
        return {name: {"calls": b.calls, "inputs": b.batched_inputs, "batching": b.enabled,
                       "model_s": round(b.model_seconds, 4),
                       "model_cpu_s": round(b.model_cpu_seconds, 4)}
                for name, b in batchers.items()}  # fmt: skip

    @app.get("/v1/runs", summary="every served run: name, task, what it takes and returns")
    async def list_runs() -> dict[str, Any]:
        return {"runs": [r.describe() for r in by_name.values()], "token": bool(token)}

    @app.get("/v1/runs/{name}", summary="one served run")
    async def one_run(name: str) -> dict[str, Any]:
        return served(name).describe()

    @app.post("/v1/runs/{name}/predict", summary="predict with a served run",
              openapi_extra=PREDICT_BODY)  # fmt: skip
    async def predict(name: str, request: Request) -> Response:
        run = served(name)
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "multipart/form-data":
            return JSONRows({"run": run.name, "rows": await predict_files(run, request)})
        if kind not in ("application/json", ""):
            raise Refused(415, f"send application/json or multipart/form-data, not {kind[:60]}")
        return JSONRows({"run": run.name, "rows": await predict_json(run, request)})

    @app.post("/v1/runs/{name}/compose", summary="compose tunes with a served music run")
    async def compose(name: str, body: ComposeJSON) -> Response:
        run = served(name)
        if run.task != "music":
            raise Refused(404, f"{run.name} is a {run.task} run; only a music run composes")
        try:
            answer = await asyncio.wait_for(
                asyncio.to_thread(run.compose, **body.model_dump()), limits.timeout_s
            )
        except asyncio.TimeoutError:
            raise Refused(504, f"no answer within {limits.timeout_s:g} s") from None
        return JSONRows(answer)

    async def predict_json(run: ServedRun, request: Request) -> list[dict[str, Any]]:
        try:
            body = PredictJSON.model_validate_json(await request.body())
        except ValidationError as exc:
            raise Refused(422, validation_text(exc.errors())) from None
        if len(body.inputs) > limits.max_inputs:
            raise Refused(413, f"{len(body.inputs)} inputs; at most {limits.max_inputs} a request")
        options = run.options(body.model_dump(include=set(DECODING_FIELDS)))
        return await answer(run, run.parse_texts(body.inputs), options)

    async def predict_files(run: ServedRun, request: Request) -> list[dict[str, Any]]:
        try:
            form = await request.form(max_files=limits.max_inputs, max_fields=20)
        except (HTTPException, BodyTooLarge):
            raise
        except Exception as exc:  # a malformed multipart body
            raise Refused(400, f"the form cannot be read: {str(exc)[:200]}") from None
        files, given = [], {}
        for key, value in form.multi_items():
            if key == "files" and not isinstance(value, str):
                files.append((value.filename or "", await value.read()))
            elif key in DECODING_FIELDS and isinstance(value, str):
                given[key] = form_number(key, value)
            else:
                takes = ", ".join(DECODING_FIELDS)
                raise Refused(422, f"unexpected form field {key[:40]!r}: send 'files' and "
                                   f"the decoding options {takes}")  # fmt: skip
        if not files:
            raise Refused(422, "no file: send one or more in the form field 'files'")
        options = run.options(given)
        with UploadFolder() as folder:
            try:
                inputs = run.parse_files(files, folder)
                rows = await answer(run, inputs, options)
            except RnnkitError as exc:  # its message names the file, not the folder
                raise RnnkitError(unfold(str(exc), folder, {})) from None
            return unfold(rows, folder, {str(p): Path(p).name for p in inputs})

    async def answer(run: ServedRun, inputs: list[Any], options: dict[str, Any]) -> list[dict]:
        try:
            return await asyncio.wait_for(
                batchers[run.name].submit(inputs, options), limits.timeout_s
            )
        except asyncio.TimeoutError:
            raise Refused(504, f"no answer within {limits.timeout_s:g} s") from None
        except QueueFull as exc:
            raise Refused(503, str(exc)) from None

    return app


def form_number(name: str, text: str) -> int | float:
    """A decoding option sent as a form field: an int or a float as its range wants."""
    from rnnkit.runs.predict import DECODING_RANGES

    kind = DECODING_RANGES[name][0]
    try:
        return kind(text)
    except ValueError:
        raise RnnkitError(f"{name} must be a {kind.__name__}, got {text[:40]!r}") from None


def validation_text(errors: list[dict[str, Any]]) -> str:
    """Pydantic's errors as one line: where and what, the first three."""
    parts = []
    for e in errors[:3]:
        where = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more


def serve(
    folders: list[str | Path],
    host: str = "127.0.0.1",
    port: int = 8000,
    limits: Limits | None = None,
    batching: bool = True,
    token: str | None = None,
    threads: int | None = None,
) -> None:
    """Load each run folder and serve them until interrupted, the models on ``threads``
    torch threads (default: ``serving_threads()``)."""
    import torch
    import uvicorn

    torch.set_num_threads(threads or serving_threads())
    # rnnkit's cells are torch custom ops, whose first call imports torch._dynamo (1.3 s of
    # CPU): paid here, before the server answers, rather than by its first request
    import torch._dynamo  # noqa: F401

    limits = limits or Limits()
    runs = [ServedRun.load(f, limits) for f in folders]
    app = create_app(runs, limits, batching, token)
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=5)


def serving_threads() -> int:
    """Torch threads for serving: one core fewer than torch would take (its default: every
    core, or OMP_NUM_THREADS), at least one. The event loop, which reads every request and
    writes every answer, keeps a core of its own; on 2 cores a model on both would make it
    wait on each forward pass, and on torch's threads spinning between operations."""
    import torch

    return max(1, torch.get_num_threads() - 1)
