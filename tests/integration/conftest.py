"""Fixtures several integration test modules share; a module's own fixture of the same name wins."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from click.testing import CliRunner, Result

from rqueues import Connection, Queue, connect
from rqueues import middleware as registry
from rqueues.cli import main
from rqueues.middleware import ENV
from rqueues.quickstart.embedded import EmbeddedServer


@pytest.fixture
def cli(conn: Connection, redis_url: str) -> Callable[..., Result]:
    """Run one `rqueues` command against the flushed test server; the result, whatever its exit."""

    def run(*args: str) -> Result:
        return CliRunner().invoke(main, [args[0], "--redis-url", redis_url, *args[1:]])

    return run


@pytest.fixture
def q(conn: Connection) -> Queue:
    """The queue "default", declared with every setting at its default."""
    queue = Queue("default", conn)
    queue.declare()
    return queue


@pytest.fixture
def oom_conn() -> Iterator[Connection]:
    """A server of its own with noeviction, whose maxmemory a test may lower (reset after)."""
    try:
        server = EmbeddedServer().start()
    except Exception as exc:  # the session fixture decides whether a missing server is an error
        pytest.skip(f"no Redis server available: {exc}")
    conn = connect(server.url)
    conn.redis.config_set("maxmemory-policy", "noeviction")
    yield conn
    conn.redis.config_set("maxmemory", 0)
    conn.close()
    server.cleanup()


@pytest.fixture
def clean_middleware(monkeypatch: pytest.MonkeyPatch) -> None:
    """No middleware installed, from code or from the environment, for the test's length."""
    monkeypatch.setattr(registry, "_chain", ())
    monkeypatch.setattr(registry, "_specs", {})
    monkeypatch.setattr(registry, "_env_loaded", True)
    monkeypatch.delenv(ENV, raising=False)
