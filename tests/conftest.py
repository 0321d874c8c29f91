"""Shared fixtures: one private Redis server per test session, flushed between tests."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from rqueues import Connection, Worker, connect
from rqueues.embedded import EmbeddedServer

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))  # so workers can --import tasks


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedServer]:
    try:
        server = EmbeddedServer().start()
    except Exception as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no Redis server available: {exc}")
    yield server
    server.cleanup()


@pytest.fixture
def redis_url(redis_server: EmbeddedServer) -> str:
    return redis_server.url


@pytest.fixture
def conn(redis_url: str) -> Iterator[Connection]:
    c = connect(redis_url)
    c.redis.flushall()
    yield c
    c.close()


class RunningWorker:
    """A Worker on a background thread, stopped at teardown."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.thread = threading.Thread(target=worker.run, kwargs={"install_signals": False}, daemon=True)

    def start(self) -> RunningWorker:
        self.thread.start()
        return self

    def stop(self, timeout: float = 10) -> None:
        self.worker.stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "worker did not stop"


@pytest.fixture
def start_worker(conn: Connection) -> Iterator[object]:
    started: list[RunningWorker] = []

    def start(**kwargs: object) -> Worker:
        kwargs.setdefault("imports", ["tasks"])
        w = RunningWorker(Worker(conn, **kwargs)).start()  # type: ignore[arg-type]
        started.append(w)
        return w.worker

    yield start
    for w in started:
        w.stop()
