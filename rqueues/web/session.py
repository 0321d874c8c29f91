"""What the page asks first (``/api/meta``), and logging in and out."""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..defaults import VERSION
from .http import context, error, json_body, json_response
from .security import CSRF_COOKIE, SESSION_COOKIE, SESSION_SECONDS


async def meta(request: Request) -> Response:
    """The page's settings, and the CSRF token for its cookie (set here when missing)."""
    ctx = context(request)
    sec = ctx.security
    nonce = request.cookies.get(CSRF_COOKIE) or ""
    fresh = not nonce or len(nonce) != 32
    if fresh:
        nonce = secrets.token_hex(16)
    how = sec.identify(request) if sec.configured else None
    response = json_response({
        "version": VERSION,
        "read_only": ctx.read_only,
        "actions": ctx.actions,
        "auth_required": sec.configured,
        "authenticated": how is not None or not sec.configured,
        "login": {"token": bool(sec.token), "basic": bool(sec.basic)},
        "csrf": sec.csrf_token(nonce),
    })  # fmt: skip
    if fresh:
        _cookie(request, response, CSRF_COOKIE, nonce, None)
    return response


async def login(request: Request) -> Response:
    """``{"token": ...}`` or ``{"user": ..., "password": ...}`` (JSON or a form): sets the
    session cookie."""
    ctx = context(request)
    problem = ctx.security.csrf_problem(request, "basic")  # the Origin check alone: no session yet
    if problem:
        return error(403, problem)
    try:
        body = await json_body(request)
    except ValueError as exc:
        return error(400, str(exc))
    fields: dict[str, str] = {}
    for key in ("token", "user", "password"):
        value = body.get(key)
        fields[key] = value if isinstance(value, str) else ""
    if not ctx.security.login(**fields):
        return error(401, "wrong token or user and password")
    response = json_response({"authenticated": True})
    _cookie(request, response, SESSION_COOKIE, ctx.security.new_session(), SESSION_SECONDS)
    return response


async def logout(request: Request) -> Response:
    response = json_response({"authenticated": False})
    response.delete_cookie(SESSION_COOKIE, path=context(request).security.cookie_path)
    return response


def _cookie(request: Request, response: Response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path=context(request).security.cookie_path,
        httponly=True, samesite="strict", secure=request.url.scheme == "https",
    )  # fmt: skip


ROUTES: list[Any] = [
    Route("/api/meta", meta, methods=["GET"]),
    Route("/api/session", login, methods=["POST"]),
    Route("/api/session/logout", logout, methods=["POST"]),
]
