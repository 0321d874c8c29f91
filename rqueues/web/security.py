"""Who may do what: credentials, the login session cookie, and CSRF checks.

- A request is authenticated by ``Authorization: Bearer <token>``, by HTTP basic, by the
  session cookie that a login with either sets, or by the host application's ``auth`` hook.
- A state-changing request authenticated by a cookie, the hook or basic auth (credentials a
  browser may attach to a forged cross-site request) must come from this origin: its
  ``Origin`` (else ``Referer``) names the request's host. A cookie or hook request must
  also carry ``X-CSRF-Token``, the token ``GET /api/meta`` gives for its CSRF cookie: a page
  of another site cannot read it. Bearer requests are exempt (a browser never adds them).
- Sessions and CSRF tokens are HMACs with a key made at start-up: nothing is stored, and a
  restart logs everyone out.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from hashlib import sha256
from urllib.parse import urlsplit

from starlette.requests import Request

SESSION_COOKIE = "rqueues_session"
CSRF_COOKIE = "rqueues_csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_SECONDS = 12 * 3600
#: A shorter token is refused: it could be guessed by a client allowed to retry fast.
MIN_TOKEN_LENGTH = 16

AuthHook = Callable[[Request], bool]


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two secrets."""
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass
class Security:
    """The credentials of one app and the key its cookies are signed with."""

    token: str | None = None
    basic: tuple[str, str] | None = None
    hook: AuthHook | None = None
    cookie_path: str = "/"
    key: bytes = field(default_factory=lambda: os.urandom(32))

    @property
    def configured(self) -> bool:
        """Whether any way to authenticate exists; without one, actions are off."""
        return bool(self.token or self.basic or self.hook)

    def _mac(self, text: str) -> str:
        return hmac.new(self.key, text.encode(), sha256).hexdigest()

    # -- authentication ---------------------------------------------------------

    def identify(self, request: Request) -> str | None:
        """How ``request`` is authenticated ('bearer', 'basic', 'session', 'hook'), or None."""
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self.token and same(value.strip(), self.token):
            return "bearer"
        if scheme.lower() == "basic" and self.basic and self._basic(value.strip()):
            return "basic"
        if self.session_valid(request.cookies.get(SESSION_COOKIE, "")):
            return "session"
        if self.hook is not None and self.hook(request):
            return "hook"
        return None

    def _basic(self, value: str) -> bool:
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return self.login(user=user, password=password)

    def login(self, *, token: str = "", user: str = "", password: str = "") -> bool:
        """Whether the credentials a login form sent are right."""
        if token and self.token:
            return same(token, self.token)
        if user and self.basic:
            # Both compared, whatever the first gives: no timing tells which was wrong.
            return same(user, self.basic[0]) & same(password, self.basic[1])
        return False

    def new_session(self, now: float | None = None) -> str:
        expiry = int((now if now is not None else time.time()) + SESSION_SECONDS)
        body = f"{secrets.token_hex(16)}.{expiry}"
        return f"{body}.{self._mac('session.' + body)}"

    def session_valid(self, value: str, now: float | None = None) -> bool:
        nonce, _, rest = value.partition(".")
        expiry, _, mac = rest.partition(".")
        if not (nonce and expiry.isdigit() and mac):
            return False
        if not same(mac, self._mac(f"session.{nonce}.{expiry}")):
            return False
        return int(expiry) > (now if now is not None else time.time())

    # -- CSRF ---------------------------------------------------------------------

    def csrf_token(self, nonce: str) -> str:
        """The token a page sends in X-CSRF-Token, bound to its CSRF cookie."""
        return self._mac("csrf." + nonce)

    def csrf_problem(self, request: Request, how: str) -> str | None:
        """Why a state-changing request authenticated by ``how`` is refused, or None."""
        if how == "bearer":
            return None
        origin = request.headers.get("origin") or request.headers.get("referer")
        host = request.headers.get("host", "")
        if origin is None:
            if how == "basic":
                return None  # a browser always sends Origin with a cross-site POST
            return "no Origin or Referer header: refused as a possible cross-site request"
        if urlsplit(origin).netloc != host:
            return f"request from another origin ({origin[:100]}): refused"
        if how == "basic":
            return None
        nonce = request.cookies.get(CSRF_COOKIE, "")
        sent = request.headers.get(CSRF_HEADER, "")
        if not nonce or not sent or not same(sent, self.csrf_token(nonce)):
            return "missing or wrong X-CSRF-Token header (get it from GET /api/meta)"
        return None
