"""Whatever goes wrong while a job's outcome is settled, encoded or stored, the job ends with the
reason and its slot is freed; errors no retry can fix fail at once; odd records do not stop the heartbeat."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import tasks

from rqueues import Connection, JobFailed, Queue, RetryPolicy, Worker, defaults
from rqueues.backend.entries import pack_fresh
from rqueues.backend.keys import GROUP
from rqueues.codec import encode_call, pack
from rqueues.job import Job
from rqueues.liveness import Health
from rqueues.worker.heartbeat import Heartbeat
from rqueues.worker.held import Held
from rqueues.worker.observer import Observer


@pytest.fixture
def q(conn: Connection) -> Queue:
    queue = Queue("default", conn)
    queue.declare(retry=RetryPolicy(retries=3, backoff=0))
    return queue


def raw_enqueue(conn: Connection, queue: str, job_id: str, function: str, options: dict[str, Any]) -> Job:
    """A record written by something other than enqueue(): its options are not checked."""
    row = (job_id, pack_fresh(function, encode_call((), {}), pack(options), job_id), 0)
    conn.scripts.enqueue(conn.keys.queue(queue), [row])
    return Job(job_id, queue, conn)


def assert_released(conn: Connection, queue: str) -> None:
    keys = conn.keys.queue(queue)
    assert conn.redis.xpending(keys.stream, GROUP)["pending"] == 0
    assert conn.redis.zcard(keys.leases) == 0


def test_an_exception_whose_str_raises_fails_the_job_and_frees_the_slot(
    conn: Connection, q: Queue, quick_worker: Callable[..., Worker]
) -> None:
    quick_worker(concurrency=1)
    job = q.options(retries=0).enqueue(tasks.raise_unprintable)
    with pytest.raises(JobFailed) as info:
        job.wait(timeout=10)
    assert info.value.exc_type == "tasks.UnprintableError"
    assert "<str() of the tasks.UnprintableError raised RuntimeError" in info.value.message
    assert q.enqueue(tasks.add, 1, 2).wait(timeout=10) == 3  # the only slot was freed
    assert_released(conn, "default")


def test_a_result_msgpack_cannot_carry_fails_at_once_not_retried(
    conn: Connection, q: Queue, quick_worker: Callable[..., Worker]
) -> None:
    quick_worker()
    job = q.enqueue(tasks.unserializable_result)
    with pytest.raises(JobFailed) as info:
        job.wait(timeout=10)
    assert info.value.exc_type == "rqueues.errors.SerializationError"
    assert job.record().attempts == 1  # the queue allows 3 retries: none is spent on it


def test_a_result_above_max_result_bytes_fails_at_once_with_size_and_limit(
    conn: Connection, q: Queue, quick_worker: Callable[..., Worker]
) -> None:
    conn.max_result_bytes = 1000
    quick_worker()
    job = q.enqueue(tasks.big_result, 5000)
    with pytest.raises(JobFailed) as info:
        job.wait(timeout=10)
    assert info.value.exc_type == "rqueues.errors.PayloadTooLarge"
    assert "encodes to 5003 bytes, more than the limit of 1000 bytes" in info.value.message
    rec = job.record()
    assert (rec.state, rec.attempts, rec.raw_result) == ("failed", 1, None)
    assert q.enqueue(tasks.big_result, 10).wait(timeout=10) == b"x" * 10


def test_retry_options_that_overflow_fail_the_job_with_the_reason_and_free_the_slot(
    conn: Connection, q: Queue, quick_worker: Callable[..., Worker]
) -> None:
    quick_worker(concurrency=1)
    job = raw_enqueue(conn, "default", "overflow", "tasks:fail", {"retries": 3, "backoff": math.inf})
    with pytest.raises(JobFailed) as info:
        job.wait(timeout=10)
    assert info.value.message.startswith("rqueues could not settle this job's outcome: ConfigurationError: ")
    assert "backoff must be" in info.value.message
    assert q.enqueue(tasks.add, 2, 2).wait(timeout=10) == 4
    assert_released(conn, "default")


def test_a_record_with_an_absurd_result_ttl_is_kept_for_the_queues_ttl(
    conn: Connection, q: Queue, quick_worker: Callable[..., Worker]
) -> None:
    quick_worker()
    job = raw_enqueue(conn, "default", "forever", "tasks:noop", {"result_ttl": 10**16})
    assert job.wait(timeout=10) is None
    assert 0 < conn.redis.ttl(conn.keys.queue("default").job("forever")) <= defaults.RESULT_TTL
    assert_released(conn, "default")


def test_a_timeout_option_of_soon_does_not_stop_the_heartbeat_and_counts_as_none(
    conn: Connection, q: Queue, quick_worker: Callable[..., Worker], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    worker = quick_worker(heartbeat_seconds=0.1, lease_seconds=1.0, dead_after=1.0)
    tasks.EVENTS["soon"] = threading.Event()
    payload = encode_call(("soon",), {})
    row = ("soon", pack_fresh("tasks:wait_for_event", payload, pack({"timeout": "soon"}), "soon"), 0)
    conn.scripts.enqueue(conn.keys.queue("default"), [row])
    job = Job("soon", "default", conn)
    deadline = time.monotonic() + 10
    while job.state != "running":
        assert time.monotonic() < deadline, "the job did not start"
        time.sleep(0.01)
    first = conn.redis.zscore(conn.keys.workers, worker.worker_id)
    while conn.redis.zscore(conn.keys.workers, worker.worker_id) == first:
        assert time.monotonic() < deadline, "the heartbeat stopped"
        time.sleep(0.01)
    tasks.EVENTS["soon"].set()
    assert job.wait(timeout=10) == "soon"
    warnings = [r.getMessage() for r in caplog.records if "ignoring a timeout option" in r.getMessage()]
    assert len(warnings) == 1, warnings  # once, although every heartbeat looked at it


def test_the_heartbeat_outlives_an_exception_that_is_not_a_redis_error(
    conn: Connection, caplog: pytest.LogCaptureFixture
) -> None:
    calls = {"n": 0}

    def describe() -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("a bug in describe()")
        return {"n": calls["n"]}

    beat = Heartbeat(conn, "w-odd", describe, Held(), 5000, 0.05, Observer(), Health(settle=1.0))
    beat.start()
    try:
        deadline = time.monotonic() + 10
        while calls["n"] < 4:
            assert time.monotonic() < deadline, "the heartbeat thread died"
            time.sleep(0.01)
    finally:
        beat.stop()
    assert any("heartbeat failed" in r.getMessage() for r in caplog.records)
    assert int(conn.redis.hget(conn.keys.worker("w-odd"), "n")) >= 3
