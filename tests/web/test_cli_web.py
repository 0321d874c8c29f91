"""`rqueues web`: its extra is optional, it binds loopback unless told, and it never serves
actions on another address without credentials."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from rqueues import Connection
from rqueues.cli import main
from rqueues.cli.web import MISSING_EXTRA
from rqueues.errors import ConfigurationError
from rqueues.web import server
from rqueues.web.app import create_app


def test_import_rqueues_and_its_cli_does_not_import_the_web_stack() -> None:
    code = (
        "import rqueues, rqueues.cli, sys; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('starlette', 'uvicorn')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_missing_extra_is_named_with_the_command_that_installs_it(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m.startswith("rqueues.web")]:
        monkeypatch.delitem(sys.modules, name)
    for name in ("starlette", "uvicorn"):
        monkeypatch.setitem(sys.modules, name, None)  # as if the extra were not installed
    result = CliRunner().invoke(main, ["web", "--redis-url", redis_url])
    assert result.exit_code == 1
    assert MISSING_EXTRA in result.output and "pip install 'rqueues[web]'" in result.output


def test_no_credentials_on_a_public_address_is_refused(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RQUEUES_WEB_TOKEN", raising=False)
    monkeypatch.delenv("RQUEUES_WEB_BASIC_AUTH", raising=False)
    result = CliRunner().invoke(main, ["web", "--redis-url", redis_url, "--host", "0.0.0.0"])
    assert result.exit_code == 1
    assert "refusing to serve actions on 0.0.0.0 without credentials" in result.output


def test_loopback_without_a_token_makes_one_and_prints_it_once(
    conn: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: dict[str, object] = {}
    monkeypatch.setattr(server.uvicorn, "run", lambda app, **kw: served.update(app=app, **kw))
    said: list[str] = []
    server.serve(conn, host="127.0.0.1", port=8080, read_only=False, token=None, basic=None, say=said.append)
    assert served["host"] == "127.0.0.1" and served["port"] == 8080
    token = said[0].rsplit(" ", 1)[1]
    assert len(token) >= 24 and sum(token in line for line in said) == 1
    assert served["app"].app.state.rqueues.security.token == token  # type: ignore[attr-defined]


def test_read_only_needs_no_token(conn: Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    served: dict[str, object] = {}
    monkeypatch.setattr(server.uvicorn, "run", lambda app, **kw: served.update(app=app))
    server.serve(conn, host="127.0.0.1", port=1, read_only=True, token=None, basic=None, say=lambda _: None)
    ctx = served["app"].app.state.rqueues  # type: ignore[attr-defined]
    assert ctx.read_only and not ctx.security.configured


def test_credentials_from_the_environment_and_a_file_are_checked(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server.uvicorn, "run", lambda app, **kw: None)
    empty = tmp_path / "token"
    empty.write_text("\n")
    result = CliRunner().invoke(main, ["web", "--redis-url", redis_url, "--token-file", str(empty)])
    assert result.exit_code == 1 and "is empty" in result.output
    monkeypatch.setenv("RQUEUES_WEB_BASIC_AUTH", "no-colon")
    result = CliRunner().invoke(main, ["web", "--redis-url", redis_url])
    assert result.exit_code == 1 and "user:password" in result.output
    monkeypatch.delenv("RQUEUES_WEB_BASIC_AUTH")
    monkeypatch.setenv("RQUEUES_WEB_TOKEN", "short")
    result = CliRunner().invoke(main, ["web", "--redis-url", redis_url])
    assert result.exit_code == 1 and "at least 16 characters" in result.output


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.0.2", True), ("localhost", True), ("::1", True), ("[::1]", True),
     ("0.0.0.0", False), ("::", False), ("192.168.1.4", False), ("example.org", False)],
)  # fmt: skip
def test_what_counts_as_loopback(host: str, loopback: bool) -> None:
    assert server.is_loopback(host) is loopback


def test_serve_refuses_before_listening(conn: Connection) -> None:
    with pytest.raises(ConfigurationError, match="--read-only"):
        server.serve(conn, host="10.1.2.3", port=1, read_only=False, token=None, basic=None)


def test_on_loopback_only_loopback_host_names_are_answered(conn: Connection) -> None:
    """DNS rebinding: a page of another site whose name now resolves to 127.0.0.1 gets nothing."""
    client = TestClient(server.LoopbackOnly(create_app(conn, read_only=True)))
    for host in ("127.0.0.1:8080", "localhost:8080", "[::1]:8080", "localhost"):
        assert client.get("/api/overview", headers={"Host": host}).status_code == 200, host
    for host in ("evil.example:8080", "evil.example", "127.0.0.1.evil.example", ""):
        reply = client.get("/api/overview", headers={"Host": host})
        assert reply.status_code == 421, host
        assert "loopback names only" in reply.json()["error"]
