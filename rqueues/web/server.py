"""``rqueues web``: serve the dashboard with uvicorn, on loopback unless told otherwise."""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Callable

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from ..backend.store import Store
from ..errors import ConfigurationError
from .app import create_app
from .http import error


def is_loopback(host: str) -> bool:
    """Only addresses this machine alone can reach; any other name counts as public."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class LoopbackOnly:
    """Answers only requests whose Host is a loopback name: on a loopback address, a page of
    another site whose name was rebound to 127.0.0.1 (DNS rebinding) reads nothing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            name = host.rpartition("]")[0] + "]" if host.startswith("[") else host.partition(":")[0]
            if not is_loopback(name):
                await error(421, f"this dashboard answers on loopback names only, not {host[:100]!r}")(
                    scope, receive, send
                )
                return
        await self.app(scope, receive, send)


def serve(
    conn: Store,
    *,
    host: str,
    port: int,
    read_only: bool,
    token: str | None,
    basic: tuple[str, str] | None,
    say: Callable[[str], None] = print,
) -> None:
    """Serve until interrupted. Without a credential, actions get a token made for this run
    (printed once) on loopback, and are refused to start on any other address."""
    if not read_only and not (token or basic):
        if not is_loopback(host):
            raise ConfigurationError(
                f"refusing to serve actions on {host} without credentials: set RQUEUES_WEB_TOKEN, "
                "--token-file or RQUEUES_WEB_BASIC_AUTH, or pass --read-only"
            )
        token = secrets.token_urlsafe(24)
        say(f"rqueues web: no token configured; log in with this one, made for this run: {token}")
    if read_only and not (token or basic) and not is_loopback(host):
        say(f"rqueues web: read-only and without credentials on {host}: anyone who reaches it sees every job")
    app: ASGIApp = create_app(conn, read_only=read_only, token=token, basic=basic)
    if is_loopback(host):
        app = LoopbackOnly(app)
    mode = " (read-only)" if read_only else ""
    shown = f"[{host}]" if ":" in host else host
    say(f"rqueues web: serving http://{shown}:{port}/{mode}")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
