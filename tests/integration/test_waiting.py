"""Invariant 4 of docs/internals.md, waiting is event-driven: an idle worker blocks in Redis and
wakes on a new job.

The worker here refreshes its queue list only every 30 s, so anything that
depended on a poll (rather than on being woken by Redis) would take up to 30 s.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import tasks

from rqueues import Connection, Queue, Worker

REFRESH = 30.0


def blocked_readers(conn: Connection) -> list[dict[str, Any]]:
    return [c for c in conn.redis.client_list() if c["cmd"] == "xread" and "b" in c["flags"]]


def calls(conn: Connection, command: str) -> int:
    stats = conn.redis.info("commandstats").get(f"cmdstat_{command}")
    return int(stats["calls"]) if stats else 0


@pytest.fixture
def idle_worker(conn: Connection, start_worker: Callable[..., Worker], wait_until: Any) -> Iterator[Worker]:
    Queue("default", conn).declare()
    worker = start_worker(refresh_seconds=REFRESH, concurrency=2)
    wait_until(lambda: blocked_readers(conn), what="the worker to block in XREAD")
    yield worker
    # Stopping does not interrupt a blocked read: unblock it so teardown need not wait 30 s.
    worker.stop()
    for client in blocked_readers(conn):
        conn.redis.client_unblock(client["id"])


def test_an_idle_worker_blocks_in_redis_and_does_not_poll(conn: Connection, idle_worker: Worker) -> None:
    readers = blocked_readers(conn)
    assert len(readers) == 1, readers
    claims, reads = calls(conn, "xreadgroup"), calls(conn, "xread")
    time.sleep(1.0)  # idle on purpose: counting what the worker does meanwhile
    # XREADGROUP only runs inside the claim script: a polling worker would have claimed
    # every few milliseconds; a blocked one claims nothing.
    assert calls(conn, "xreadgroup") - claims <= 1
    assert calls(conn, "xread") - reads <= 1
    assert blocked_readers(conn)[0]["id"] == readers[0]["id"]


def test_a_job_on_an_idle_worker_starts_without_waiting_for_a_poll(
    conn: Connection, idle_worker: Worker, wait_until: Any
) -> None:
    q = Queue("default", conn)
    latencies = []
    for _ in range(5):
        wait_until(lambda: blocked_readers(conn), what="the worker to be idle again")
        job = q.enqueue(tasks.noop)
        job.wait(timeout=10)
        rec = job.record()
        assert rec.started_at is not None and rec.enqueued_at is not None
        latencies.append(rec.started_at - rec.enqueued_at)  # both from the server's clock
    # Generous: the bound that matters is far below the 30 s a poll would have cost.
    assert max(latencies) < 5.0, latencies
    print(f"enqueue-to-start on an idle worker: median {statistics.median(latencies) * 1000:.1f} ms")


def test_wait_blocks_in_redis_too(
    conn: Connection, redis_url: str, quick_worker: Any, wait_until: Any
) -> None:
    # Job.wait() is a blocking read on the queue's events stream, not a sleep loop.
    q = Queue("default", conn)
    q.declare()
    job = q.enqueue(tasks.gated, redis_url, "wait:log", "wait:gate")
    results: list[Any] = []
    waiter = threading.Thread(target=lambda: results.append(job.wait(timeout=20)))
    waiter.start()
    wait_until(lambda: blocked_readers(conn), what="wait() to block in XREAD")
    quick_worker()
    wait_until(lambda: conn.redis.llen("wait:log") == 1, what="the job to start")
    conn.redis.rpush("wait:gate", "go")
    waiter.join(10)
    assert not waiter.is_alive()
    assert results == [job.id]
