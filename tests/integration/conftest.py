"""Fixtures several integration test modules share; a module's own fixture of the same name wins."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner, Result

from rqueues import Connection, Queue
from rqueues.cli import main


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
