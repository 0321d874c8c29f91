"""What every API route shares: the app's context, the read and action guards, input
checks before anything touches Redis, and errors as JSON with the right status."""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import redis
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ..backend.entries import queue_of
from ..backend.keys import check_queue_name
from ..backend.store import Store
from ..checks import check_int, check_job_id
from ..errors import (
    ConfigurationError,
    DuplicateJob,
    JobNotFound,
    QueueBusy,
    QueueNotDeclared,
    RedisOutOfMemory,
    RedisUnavailable,
    RqueuesError,
)
from ..observe.snapshot import Snapshot, read_snapshot
from ..observe.top import QueueRates, RateWindow
from ..record import JobRecord
from .security import Security

log = logging.getLogger("rqueues.web")

#: ``redact(record) -> dict``: what the job page shows of a job's call. Its keys among
#: "args", "kwargs" and "result" replace those of the job's JSON.
Redact = Callable[[JobRecord], dict[str, Any]]
#: An action's body holds a few fields at most.
MAX_BODY = 64 * 1024
#: A route's work: (context, request, body) -> data for JSON. It runs on a worker thread,
#: since every library call blocks on Redis.
Handler = Callable[["WebContext", Request, dict[str, Any]], Any]
Endpoint = Callable[[Request], Awaitable[Response]]


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class WebContext:
    conn: Store
    read_only: bool
    security: Security
    redact: Redact
    rates: RateWindow = field(default_factory=lambda: RateWindow(window=10.0))
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def actions(self) -> bool:
        """Whether actions exist at all: not read-only, and someone can authenticate."""
        return not self.read_only and self.security.configured

    def snapshot(self) -> tuple[Snapshot, dict[str, QueueRates]]:
        """Every queue now, with rates over the snapshots the app took in the last 10 s."""
        with self.conn.guard():
            snap = read_snapshot(self.conn)
        with self.lock:
            self.rates.add(snap)
            return snap, self.rates.rates()


def context(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.rqueues
    return ctx


def reader(fn: Handler) -> Endpoint:
    """A read: authenticated when the app has credentials."""

    @functools.wraps(fn)
    async def endpoint(request: Request) -> Response:
        ctx = context(request)
        if ctx.security.configured and ctx.security.identify(request) is None:
            return error(401, "authentication required: log in, or send Authorization: Bearer <token>")
        return await run_in_threadpool(_run, fn, ctx, request, {})

    return endpoint


def action(fn: Handler) -> Endpoint:
    """A state change: refused in read-only mode, without authentication, or without CSRF proof."""

    @functools.wraps(fn)
    async def endpoint(request: Request) -> Response:
        ctx = context(request)
        if ctx.read_only:
            return error(403, "the dashboard is read-only: no action is allowed")
        if not ctx.security.configured:
            return error(403, "actions are off: no token, basic credentials or auth hook is configured")
        how = ctx.security.identify(request)
        if how is None:
            return error(401, "authentication required: log in, or send Authorization: Bearer <token>")
        problem = ctx.security.csrf_problem(request, how)
        if problem:
            return error(403, problem)
        try:
            body = await json_body(request)
        except ConfigurationError as exc:
            return error(400, str(exc))
        return await run_in_threadpool(_run, fn, ctx, request, body)

    return endpoint


def _run(fn: Handler, ctx: WebContext, request: Request, body: dict[str, Any]) -> Response:
    try:
        return json_response(fn(ctx, request, body))
    except ApiError as exc:
        return error(exc.status, str(exc))
    except DuplicateJob as exc:  # a requeue whose unique key a newer job holds
        return error(409, str(exc))
    except (ConfigurationError, ValueError) as exc:
        return error(400, str(exc))
    except (JobNotFound, QueueNotDeclared) as exc:
        return error(404, str(exc))
    except QueueBusy as exc:
        return error(409, str(exc))
    except (RedisUnavailable, RedisOutOfMemory) as exc:
        return error(503, str(exc))
    except RqueuesError as exc:
        return error(400, str(exc))
    except redis.RedisError as exc:
        return error(503, f"Redis refused the command: {exc}")


def json_response(data: Any, status: int = 200) -> Response:
    if isinstance(data, Response):
        return data
    body = json.dumps(data, default=str, ensure_ascii=False)
    return Response(body, status, media_type="application/json")


def error(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


# -- input, checked before it reaches Redis ---------------------------------------------


def queue_name(request: Request) -> str:
    return check_queue_name(request.path_params["name"])


def job_id(value: str) -> str:
    """A job id as rqueues generates them (QUEUE:ENTRY) or as a caller may choose them."""
    if queue_of(value) is None:
        check_job_id(value)
    return value


def optional_queue(request: Request) -> str | None:
    name = request.query_params.get("queue")
    return check_queue_name(name) if name else None


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw[:40]!r}") from None
    return check_int(name, value, low, high)


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object body, or a form's fields; {} when empty."""
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ConfigurationError(f"the request body has {len(raw)} bytes; at most {MAX_BODY} are read")
    if not raw:
        return {}
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        from urllib.parse import parse_qsl

        return dict(parse_qsl(raw.decode(errors="replace")))
    try:
        data = json.loads(raw)
    except ValueError:
        raise ConfigurationError("the request body is not JSON") from None
    if not isinstance(data, dict):
        raise ConfigurationError("the request body must be a JSON object")
    return data
