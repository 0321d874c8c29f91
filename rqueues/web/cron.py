"""Periodic job routes: every schedule with its last and next run, and removing one
(rqueues/cron.py, as `rqueues cron list` and `rqueues cron remove` do)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from ..cron import list_cron, remove_cron
from ..schedule import check_cron_name
from .http import ApiError, WebContext, action, optional_queue, reader


@reader
def get_cron(ctx: WebContext, request: Request, body: dict[str, Any]) -> Any:
    return {"schedules": [i.to_json() for i in list_cron(ctx.conn)]}


@action
def remove(ctx: WebContext, request: Request, body: dict[str, Any]) -> Any:
    name = check_cron_name(request.path_params["name"])
    queue = optional_queue(request)
    if not remove_cron(ctx.conn, name, queue):
        raise ApiError(404, f"no periodic job named {name!r}" + (f" in queue {queue!r}" if queue else ""))
    return {"removed": name, "queue": queue}


ROUTES = [
    Route("/api/cron", get_cron, methods=["GET"]),
    Route("/api/cron/{name}/remove", remove, methods=["POST"]),
]
