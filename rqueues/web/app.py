"""``create_app``: the dashboard as one ASGI app, standalone (``rqueues web``) or mounted in a
host Starlette or FastAPI application under a prefix."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..backend.store import as_store
from ..errors import ConfigurationError
from . import cron, jobs, queues, session, workers
from .http import Redact, WebContext, error
from .security import MIN_TOKEN_LENGTH, AuthHook, Security
from .views import show_everything

log = logging.getLogger("rqueues.web")

STATIC = Path(__file__).parent / "static"

#: The page loads only its own files, and no other site may frame it.
HEADERS = [
    (b"content-security-policy", (
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]  # fmt: skip


def create_app(
    connection: Any,
    *,
    read_only: bool = False,
    token: str | None = None,
    auth: AuthHook | None = None,
    prefix: str = "",
    basic: tuple[str, str] | None = None,
    redact: Redact | None = None,
) -> Starlette:
    """The dashboard over ``connection`` (a Connection, a redis client, a URL or None).

    Actions need a credential: ``token`` (Authorization: Bearer, or the login form),
    ``basic`` (user, password) or ``auth``, a ``(request) -> bool`` hook of the host
    application. With none of them the dashboard shows everything and allows no action.
    ``read_only`` hides and refuses every action. ``prefix`` is the path the app is
    mounted at (``Mount(prefix, app=create_app(..., prefix=prefix))``): its cookies are
    scoped to it. ``redact(record) -> dict`` decides what the job page shows of a call:
    the keys "args", "kwargs" and "result" it returns replace the job's.
    """
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise ConfigurationError(f"the web token must have at least {MIN_TOKEN_LENGTH} characters")
    if basic is not None and not (basic[0] and basic[1]):
        raise ConfigurationError("basic credentials need a user and a password")
    prefix = prefix.rstrip("/")
    if prefix and not prefix.startswith("/"):
        raise ConfigurationError(f"the prefix must start with '/', got {prefix!r}")
    security = Security(token=token or None, basic=basic, hook=auth, cookie_path=prefix or "/")
    ctx = WebContext(as_store(connection), read_only, security, redact or show_everything)
    if not read_only and not security.configured:
        log.warning("rqueues web: no token, basic credentials or auth hook: every action is refused")
    routes: list[BaseRoute] = [
        Route("/", index, methods=["GET"]),
        *session.ROUTES,
        *queues.ROUTES,
        *jobs.ROUTES,
        *workers.ROUTES,
        *cron.ROUTES,
        Route("/api/{rest:path}", unknown, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.rqueues = ctx
    app.add_middleware(SecurityHeaders)
    return app


async def index(request: Request) -> Response:
    """The page: a shell with no data in it; the script fills it from the API."""
    return Response((STATIC / "index.html").read_bytes(), media_type="text/html; charset=utf-8")


async def unknown(request: Request) -> Response:
    return error(404, f"no such API route: {request.method} {request.url.path[:200]}")


class SecurityHeaders:
    """Adds HEADERS to every response (pure ASGI: streaming responses stay streaming)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)
