"""A cancelled job's record expires after its result TTL, whatever it was waiting in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tasks

from rqueues import Connection, JobOptions, Queue
from rqueues.defaults import RESULT_TTL
from rqueues.retry import RetryPolicy


def ttl(conn: Connection, queue: str, job_id: str) -> int:
    return int(conn.redis.ttl(conn.keys.queue(queue).job(job_id)))


def test_a_cancelled_delayed_job_gets_the_queues_result_ttl(conn: Connection) -> None:
    q = Queue("later", conn)
    q.declare(result_ttl=120)
    job = q.options(delay=3600).enqueue(tasks.noop)
    assert ttl(conn, "later", job.id) == -1  # waiting: no expiry
    assert job.cancel() is True
    assert job.state == "cancelled"
    assert conn.redis.zcard(conn.keys.queue("later").scheduled) == 0
    assert 0 < ttl(conn, "later", job.id) <= 120


def test_a_cancelled_delayed_job_gets_its_own_result_ttl(conn: Connection) -> None:
    q = Queue("later", conn)
    q.declare(result_ttl=120)
    job = q.options(delay=3600, result_ttl=30).enqueue(tasks.noop)
    assert job.cancel() is True
    assert 0 < ttl(conn, "later", job.id) <= 30


def test_a_cancelled_job_with_unreadable_options_falls_back_to_the_queues_ttl(conn: Connection) -> None:
    q = Queue("later", conn)
    q.declare(result_ttl=120)
    job = q.enqueue_many([(tasks.noop, (), {}, JobOptions(delay=3600, result_ttl=30))])[0]
    conn.redis.hset(conn.keys.queue("later").job(job.id), "options", b"\xc1 not msgpack")
    assert job.cancel() is True
    assert 30 < ttl(conn, "later", job.id) <= 120


def test_a_cancelled_job_of_a_queue_without_a_ttl_setting_gets_the_default(conn: Connection) -> None:
    q = Queue("later", conn)
    q.declare()
    conn.redis.hdel(conn.keys.queue("later").config, "result_ttl")  # declared by an older version
    job = q.options(delay=3600).enqueue(tasks.noop)
    assert job.cancel() is True
    assert RESULT_TTL - 60 < ttl(conn, "later", job.id) <= RESULT_TTL


def test_a_retry_cancelled_while_it_waits_for_its_backoff_expires(
    conn: Connection, quick_worker: Callable[..., Any], wait_until: Callable[..., Any]
) -> None:
    q = Queue("flaky", conn)
    q.declare(result_ttl=120, retry=RetryPolicy(retries=3, backoff=3600, backoff_max=3600))
    job = q.enqueue(tasks.fail)
    quick_worker()
    wait_until(lambda: job.state == "scheduled", what="the first attempt to fail")
    assert ttl(conn, "flaky", job.id) == -1
    assert job.cancel() is True
    assert 0 < ttl(conn, "flaky", job.id) <= 120
