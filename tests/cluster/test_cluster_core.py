"""The core paths on a 3-primary Redis Cluster: declare, enqueue, claim under a cap, wait, cancel."""

from __future__ import annotations

import os
from typing import Any

import pytest
import redis

from rqueues import Connection, Job, JobCancelled, JobFailed, Queue, QueueNotDeclared
from rqueues.queue import queue_infos


def test_declare_enqueue_run_and_wait(conn: Connection, start_worker: Any) -> None:
    q = Queue("emails", conn)
    config = q.declare(concurrency=3, tags=["has=smtp"])
    assert (config.concurrency, config.tags) == (3, ("has=smtp",))
    assert q.config().version == config.version
    assert conn.declared_queues() == ["emails"]

    jobs = q.enqueue_many([("tasks:add", (i, 1), {}) for i in range(20)])
    assert q.info().waiting == 20
    start_worker(tags=["has=smtp"], concurrency=4)
    assert [job.wait(timeout=20) for job in jobs] == [i + 1 for i in range(20)]
    rec = jobs[0].record()
    assert (rec.state, rec.attempts, rec.queue) == ("succeeded", 1, "emails")

    failing = q.enqueue("tasks:fail", "no stamp")
    with pytest.raises(JobFailed, match="no stamp"):
        failing.wait(timeout=20)


def test_enqueue_on_undeclared_queue_is_refused(conn: Connection) -> None:
    with pytest.raises(QueueNotDeclared):
        Queue("nowhere", conn).enqueue("tasks:noop")


def test_cap_holds_across_the_cluster(conn: Connection, start_worker: Any, redis_url: str) -> None:
    """A worker with 4 slots on a queue capped at 2: the independent log never shows 3 at once."""
    q = Queue("capped", conn)
    q.declare(concurrency=2)
    log_key = f"log:{os.urandom(4).hex()}"  # on the standalone server: independent of the cluster
    jobs = q.enqueue_many([("tasks:record", (redis_url, log_key, 0.05), {}) for _ in range(8)])
    start_worker(concurrency=4)
    for job in jobs:
        job.wait(timeout=30)

    log = redis.Redis.from_url(redis_url)
    running = peak = 0
    for line in log.lrange(log_key, 0, -1):
        running += 1 if line.startswith(b"start") else -1
        peak = max(peak, running)
    log.close()
    assert peak == 2  # the cap was reached and never exceeded
    assert q.info().running == 0  # every lease was released


def test_cancel_queued_job(conn: Connection, start_worker: Any) -> None:
    q = Queue("cancels", conn)
    q.declare()
    doomed, kept = q.enqueue("tasks:add", 1, 1), q.enqueue("tasks:add", 2, 2)
    assert doomed.cancel() is True
    assert doomed.cancel() is False  # no longer queued
    start_worker()
    assert kept.wait(timeout=20) == 4
    with pytest.raises(JobCancelled):
        doomed.wait(timeout=20)
    assert doomed.state == "cancelled"


def test_fetch_and_infos_span_queues_on_every_node(conn: Connection, spread_queues: Any) -> None:
    """Job.fetch and queue_infos pipeline reads over queues of different slots."""
    names = spread_queues(3)
    for name in names:
        Queue(name, conn).declare()
    jobs = [Queue(name, conn).enqueue("tasks:noop") for name in names]
    for job in jobs:
        assert Job.fetch(job.id, conn) == job
    infos = queue_infos(conn, names)
    assert [(i.name, i.waiting) for i in infos] == [(name, 1) for name in names]


def test_heartbeat_renews_leases_then_the_worker_leaves(
    conn: Connection, start_worker: Any, redis_url: str, wait_until: Any
) -> None:
    """The heartbeat pipeline (registry keys plus a renew script per queue slot) keeps leases alive.

    Each job outlives its lease several times over; were renewals lost, the next
    claim would prune the lease and start the second job beside the first.
    """
    q = Queue("long", conn)
    q.declare(concurrency=1)
    log_key = f"log:{os.urandom(4).hex()}"
    jobs = q.enqueue_many([("tasks:record", (redis_url, log_key, 2.0), {}) for _ in range(2)])
    worker = start_worker(concurrency=2, lease_seconds=1.0, heartbeat_seconds=0.2, refresh_seconds=0.3)
    for job in jobs:
        job.wait(timeout=30)
    log = redis.Redis.from_url(redis_url)
    kinds = [line.split()[0] for line in log.lrange(log_key, 0, -1)]
    log.close()
    assert kinds == [b"start", b"end", b"start", b"end"]

    worker.stop()
    wait_until(lambda: conn.redis.zscore(conn.keys.workers, worker.worker_id) is None, what="deregistration")
    assert conn.redis.xinfo_consumers(q.keys.stream, "rqueues") == []
