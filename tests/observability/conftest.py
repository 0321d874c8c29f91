"""Fixtures for the observability tests: tools, scrapes, and one full exposition of rqueues' metrics."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from obs_helpers import metric_names, need_tool, scrape

from rqueues import Queue, Worker, connect
from rqueues.observe.exporter import exporter_registry
from rqueues.observe.metrics import WorkerMetrics, serve, stop
from rqueues.quickstart.embedded import EmbeddedServer, free_port
from rqueues.worker.reaper import Reaper


@pytest.fixture(scope="session")
def promtool() -> str:
    return need_tool("promtool", "apt-get install -y prometheus (Debian's package carries promtool)")


@pytest.fixture(scope="session")
def exposition(redis_server: EmbeddedServer) -> Iterator[dict[str, str]]:
    """A worker's and the exporter's /metrics after real work, with every family present.

    Uses its own key prefix, so it does not disturb (or depend on) the other tests' data.
    """
    conn = connect(redis_server.url, prefix="rqueues-exposition")
    Queue("capped", conn).declare(concurrency=1)
    Queue("plain", conn).declare(rate_limit="5/s")
    Queue("capped", conn).enqueue_many([("tasks:sleep", (0.02,), {}) for _ in range(4)])
    plain = Queue("plain", conn)
    plain.enqueue_many([("tasks:add", (1, 2), {}) for _ in range(5)] + [("tasks:fail", (), {})])
    plain.options(delay=3600).enqueue("tasks:noop")  # one scheduled job
    Queue("paused", conn).declare()
    Queue("paused", conn).pause()
    metrics = WorkerMetrics()
    worker = Worker(
        conn, concurrency=4, imports=["tasks"], observer=metrics, reaper=False, heartbeat_seconds=0.2
    )
    metrics.bind(worker)
    wport = free_port()
    metrics.serve(wport, "127.0.0.1")
    thread = threading.Thread(target=worker.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while int(conn.redis.hget(conn.keys.queue("capped").stats, "finished:succeeded") or 0) < 4:
        assert time.monotonic() < deadline, "the exposition workload did not finish"
        time.sleep(0.02)
    Reaper(conn).reap_once()  # writes the reaper's status hash
    eport = free_port()
    exporter = serve(exporter_registry(conn), eport, "127.0.0.1")
    texts = {"worker": scrape(wport), "exporter": scrape(eport)}
    stop(exporter)
    worker.stop()
    thread.join(30)
    metrics.close()
    for key in conn.redis.scan_iter(match="rqueues-exposition:*"):
        conn.redis.delete(key)
    conn.close()
    yield texts


@pytest.fixture(scope="session")
def exposed_names(exposition: dict[str, str]) -> set[str]:
    return metric_names(exposition["worker"]) | metric_names(exposition["exporter"])
