"""Fixtures of the dashboard's tests: apps over the test server, and clients of them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the web extra is not installed: pip install '.[web]'")

from starlette.testclient import TestClient
from web_helpers import TOKEN

from rqueues import Connection, Queue
from rqueues.web.app import create_app


@pytest.fixture
def make_client(conn: Connection) -> Callable[..., TestClient]:
    """make_client(**create_app kwargs): a test client of a dashboard over the flushed server."""

    def make(**kwargs: Any) -> TestClient:
        return TestClient(create_app(conn, **kwargs))

    return make


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    """A dashboard with the test token."""
    return make_client(token=TOKEN)


@pytest.fixture
def dead_queue(conn: Connection) -> Queue:
    q = Queue("deadq", conn)
    q.declare(max_reclaims=0)
    return q
