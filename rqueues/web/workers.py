"""The workers route: live workers, their tags, queues, slots in use, heartbeat age and
the jobs they run."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from ..observe.top import info_json, running_jobs
from .http import WebContext, reader


@reader
def get_workers(ctx: WebContext, request: Request, body: dict[str, Any]) -> Any:
    snap, rates = ctx.snapshot()
    with ctx.conn.guard():
        running = running_jobs(ctx.conn, snap)
    data = info_json(snap, rates, running)
    return {"time": data["time"], "workers": data["workers"], "dead_workers": snap.dead_workers}


ROUTES = [Route("/api/workers", get_workers, methods=["GET"])]
