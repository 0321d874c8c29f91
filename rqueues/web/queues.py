"""Queue routes: the overview, one queue, its jobs by state, and the queue actions (the
limit, the rate limit, pause and resume, requeue of its dead letters)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from ..defaults import MAX_CONCURRENCY
from ..errors import ConfigurationError, QueueNotDeclared
from ..job import Job
from ..observe.listing import list_dead, list_jobs
from ..queue import Queue
from .http import ApiError, WebContext, action, int_param, queue_name, reader
from .views import job_row, overview

#: Dead letters requeued per round (list_dead's page); rounds stop when one requeues nothing.
REQUEUE_ROUND = 1000
MAX_REQUEUE_ROUNDS = 1000
#: Most jobs one page of the API holds.
PAGE_LIMIT = 500


@reader
def get_overview(ctx: WebContext, request: Request, body: dict[str, Any]) -> Any:
    return overview(*ctx.snapshot())


@reader
def get_queue(ctx: WebContext, request: Request, body: dict[str, Any]) -> Any:
    name = queue_name(request)
    data = overview(*ctx.snapshot())
    row = next((q for q in data["queues"] if q["name"] == name), None)
    if row is None:
        raise QueueNotDeclared(name)
    config = Queue(name, ctx.conn).config()
    row["config"] = {
        "result_ttl": config.result_ttl,
        "retries": config.retry.retries,
        "backoff": config.retry.backoff,
        "backoff_max": config.retry.backoff_max,
        "retry_on": list(config.retry.retry_on),
        "max_reclaims": config.max_reclaims,
        "gpus_per_job": config.gpus_per_job,
        "gpu_share": config.gpu_share,
        "rate_limit": str(config.rate_limit) if config.rate_limit else None,
        "paused": config.paused,
        "version": config.version,
    }
    return {"time": data["time"], "queue": row}


@reader
def get_queue_jobs(ctx: WebContext, request: Request, body: dict[str, Any]) -> Any:
    name = queue_name(request)
    if name not in ctx.conn.declared_queues():
        raise QueueNotDeclared(name)
    return page(ctx, request, [name])


def page(ctx: WebContext, request: Request, queues: list[str] | None) -> dict[str, Any]:
    """One page of a listing (observe/listing.py: the per-state indexes, never a scan)."""
    state = request.query_params.get("state") or None
    limit = int_param(request, "limit", 25, 1, PAGE_LIMIT)
    found = list_jobs(ctx.conn, queues, state, limit, request.query_params.get("cursor") or None)
    return {"jobs": [job_row(r) for r in found], "next_cursor": found.next_cursor}


@action
def set_concurrency(ctx: WebContext, request: Request, body: dict[str, Any]) -> Any:
    name = queue_name(request)
    raw = body.get("concurrency")
    try:
        limit = int(raw) if isinstance(raw, (int, str)) and not isinstance(raw, bool) else None
    except ValueError:
        limit = None
    if limit is None:
        raise ConfigurationError(f"concurrency must be an integer from 0 to {MAX_CONCURRENCY}, got {raw!r}")
    config = Queue(name, ctx.conn).set_concurrency(limit)
    return {"queue": name, "concurrency": config.concurrency, "version": config.version}


@action
def set_rate_limit(ctx: WebContext, request: Request, body: dict[str, Any]) -> Any:
    """``{"rate_limit": "100/s"}``; null or "" for none."""
    name = queue_name(request)
    raw = body.get("rate_limit")
    if raw is not None and not isinstance(raw, str):
        raise ConfigurationError(f"rate_limit must be text like '100/s', or null for none, got {raw!r}")
    config = Queue(name, ctx.conn).set_rate_limit((raw.strip() or None) if raw else None)
    rate = str(config.rate_limit) if config.rate_limit else None
    return {"queue": name, "rate_limit": rate, "version": config.version}


@action
def pause(ctx: WebContext, request: Request, body: dict[str, Any]) -> Any:
    name = queue_name(request)
    Queue(name, ctx.conn).pause()
    return {"queue": name, "paused": True}


@action
def resume(ctx: WebContext, request: Request, body: dict[str, Any]) -> Any:
    name = queue_name(request)
    Queue(name, ctx.conn).resume()
    return {"queue": name, "paused": False}


@action
def requeue_dead(ctx: WebContext, request: Request, body: dict[str, Any]) -> Any:
    """Every dead letter of the queue back on it, as `rqueues requeue --queue Q --all` does."""
    name = queue_name(request)
    Queue(name, ctx.conn).config()  # QueueNotDeclared
    done = skipped = 0
    for _ in range(MAX_REQUEUE_ROUNDS):
        ids = [d.job_id for d in list_dead(ctx.conn, [name], REQUEUE_ROUND) if d.job_id]
        moved = sum(Job(one, name, ctx.conn).requeue() for one in ids)
        done, skipped = done + moved, skipped + len(ids) - moved
        if not moved or len(ids) < REQUEUE_ROUND:
            break
    else:
        raise ApiError(503, f"requeued {done} job(s); more dead letters remain: ask again")
    return {"queue": name, "requeued": done, "skipped": skipped}


ROUTES = [
    Route("/api/overview", get_overview, methods=["GET"]),
    Route("/api/queues/{name}", get_queue, methods=["GET"]),
    Route("/api/queues/{name}/jobs", get_queue_jobs, methods=["GET"]),
    Route("/api/queues/{name}/concurrency", set_concurrency, methods=["POST"]),
    Route("/api/queues/{name}/rate-limit", set_rate_limit, methods=["POST"]),
    Route("/api/queues/{name}/pause", pause, methods=["POST"]),
    Route("/api/queues/{name}/resume", resume, methods=["POST"]),
    Route("/api/queues/{name}/requeue-dead", requeue_dead, methods=["POST"]),
]
